# Delayed-message service pure parts: messageDelayLevel parsing, delayOffset.json round trip.
if(TARGET rmq_broker_lib)
  rmq_unit_test(test_broker_sched SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_broker_sched.c
                LIBS rmq_broker_lib TIMEOUT 30)
endif()
