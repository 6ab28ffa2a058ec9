# A cluster of hosts in network namespaces (issue 14): root only, skipped (77) elsewhere.
if(TARGET mqbroker AND TARGET mqnamesrv AND TARGET mqadmin AND TARGET mqbench)
  add_test(NAME netns-cluster COMMAND ${CMAKE_SOURCE_DIR}/test/cluster/netns-cluster.sh
                                      ${CMAKE_BINARY_DIR})
  set_tests_properties(netns-cluster PROPERTIES TIMEOUT 400 SKIP_RETURN_CODE 77 LABELS cluster
                                                RUN_SERIAL TRUE)
endif()

# deploy/ (systemd units, Kubernetes manifests, container image file) against conf/ and the
# binaries: scripts/check-deploy.py.
if(TARGET mqbroker AND TARGET mqnamesrv)
  find_package(Python3 COMPONENTS Interpreter)
  if(Python3_FOUND)
    add_test(NAME deploy-check COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/scripts/check-deploy.py
                                       ${CMAKE_BINARY_DIR})
    set_tests_properties(deploy-check PROPERTIES TIMEOUT 120 LABELS deploy)
  endif()
endif()
