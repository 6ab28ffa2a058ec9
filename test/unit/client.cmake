# librmq unit tests (no network): codecs, allocation, ids, routes, conf.
if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/test_client.c)
  rmq_unit_test(test_client SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_client.c LIBS rmq_static)
endif()
