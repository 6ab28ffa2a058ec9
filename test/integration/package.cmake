# Install, package and quick-start checks (issue 13). Shell scripts against the build tree.
# sdk-link: an installed tree's librmq.a / librmq.so linked from C and C++, README C snippets.
if(TARGET rmq AND TARGET rmq_static)
  add_test(NAME sdk-link COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/sdk-link.sh ${CMAKE_SOURCE_DIR}
                                 ${CMAKE_BINARY_DIR})
  set_tests_properties(sdk-link PROPERTIES LABELS "sdk;package" TIMEOUT 300)
endif()
