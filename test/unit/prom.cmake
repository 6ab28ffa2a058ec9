# Prometheus text writer (common/prom.c).
rmq_unit_test(test_prom SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_prom.c LIBS rmq_httpd)
