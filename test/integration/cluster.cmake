# A cluster of hosts in network namespaces (issue 14): root only, skipped (77) elsewhere.
if(TARGET mqbroker AND TARGET mqnamesrv AND TARGET mqadmin AND TARGET mqbench)
  add_test(NAME netns-cluster COMMAND ${CMAKE_SOURCE_DIR}/test/cluster/netns-cluster.sh
                                      ${CMAKE_BINARY_DIR})
  set_tests_properties(netns-cluster PROPERTIES TIMEOUT 400 SKIP_RETURN_CODE 77 LABELS cluster
                                                RUN_SERIAL TRUE)
endif()
