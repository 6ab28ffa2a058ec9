# Transaction check-back pure parts (broker/txncheck.c): op offset advance, immunity time.
if(TARGET rmq_broker_lib)
  rmq_unit_test(test_broker_txn SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_broker_txn.c
                LIBS rmq_broker_lib TIMEOUT 30)
endif()
