# librmq unit tests (no network): codecs, allocation, ids, routes, conf.
if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/test_client.c)
  rmq_unit_test(test_client SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_client.c LIBS rmq_static)
endif()
# librmq.so exports exactly the functions of the public headers (hidden visibility + RMQ_API).
if(TARGET rmq)
  add_test(NAME check_exports
           COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/check_exports.sh $<TARGET_FILE:rmq>
                   ${CMAKE_SOURCE_DIR}/client/include/rmq/rmq.h
                   ${CMAKE_SOURCE_DIR}/include/rmq/rmq_err.h)
  set_tests_properties(check_exports PROPERTIES TIMEOUT 60)
endif()
