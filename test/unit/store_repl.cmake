# Store replication API (store/repl.c): copy a CommitLog frame by frame into a slave store.
rmq_unit_test(test_store_repl SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_store_repl.c LIBS rmq_store
              TIMEOUT 120)
