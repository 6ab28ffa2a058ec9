# librmq request-reply table and PUSH_REPLY_MESSAGE_TO_CLIENT decoder (client/request.c).
if(TARGET rmq_static)
  rmq_unit_test(test_request SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_request.c LIBS rmq_static)
endif()
