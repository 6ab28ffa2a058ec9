# mqadmin / mqbench pure helpers and the admin API's JSON fix-up.
if(TARGET rmq_tools_util AND TARGET rmq_static)
  rmq_unit_test(test_tools SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tools.c
                LIBS rmq_tools_util rmq_static PkgConfig::JANSSON)
endif()
