# mqadmin / mqbench pure helpers and the admin API's JSON fix-up.
if(TARGET rmq_tools_util AND TARGET rmq_static)
  rmq_unit_test(test_tools SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tools.c
                LIBS rmq_tools_util rmq_static PkgConfig::JANSSON)
endif()

# rawbench --fill: the page-cache price bench.sh reports; a line with both figures, and a clear
# failure for a directory that does not exist.
if(TARGET rawbench)
  add_test(NAME rawbench_fill COMMAND rawbench --fill 4 --dir ${CMAKE_BINARY_DIR})
  set_tests_properties(rawbench_fill PROPERTIES TIMEOUT 60 PASS_REGULAR_EXPRESSION
    "Raw fill: 4 MiB \\| Fresh CPU s per GiB: [0-9]+\\.[0-9]+ \\| Again CPU s per GiB: [0-9]+\\.[0-9]+")
  add_test(NAME rawbench_fill_nodir COMMAND rawbench --fill 4 --dir ${CMAKE_BINARY_DIR}/no/such/dir)
  set_tests_properties(rawbench_fill_nodir PROPERTIES TIMEOUT 60 PASS_REGULAR_EXPRESSION
    "rawbench: create a file in .*/no/such/dir: No such file")
endif()
