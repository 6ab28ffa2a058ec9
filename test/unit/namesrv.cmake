rmq_unit_test(test_route SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_route.c LIBS rmq_namesrv_lib)
