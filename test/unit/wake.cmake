# common/wake.h: timed waits (the consume pool watcher).
rmq_unit_test(test_wake SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_wake.c LIBS rmq_common TIMEOUT 60)
