# The process harness shared by every integration test (see harness.h).
add_library(rmq_test_harness STATIC ${CMAKE_CURRENT_LIST_DIR}/harness.c)
target_include_directories(rmq_test_harness PUBLIC ${CMAKE_SOURCE_DIR})

# rmq_integration_test(NAME SOURCES... LIBS... [DEPENDS bins...]): like rmq_unit_test, plus the
# harness, the binaries it starts built first, and a longer timeout.
function(rmq_integration_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;DEPENDS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  rmq_unit_test(${name} SOURCES ${T_SOURCES} LIBS rmq_test_harness ${T_LIBS} TIMEOUT ${T_TIMEOUT})
  if(T_DEPENDS)
    add_dependencies(${name} ${T_DEPENDS})
  endif()
  set_tests_properties(${name} PROPERTIES LABELS integration RUN_SERIAL TRUE)
endfunction()
