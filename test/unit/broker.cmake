# Broker core pure functions (header parsing, batch decoding, topic names, subscriptions).
if(TARGET rmq_store)
  rmq_unit_test(test_broker SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_broker.c LIBS rmq_broker_lib
                TIMEOUT 60)
endif()
