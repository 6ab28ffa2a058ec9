# /metrics of both servers scraped and parsed by Prometheus parsers (issue 14). Skipped (77)
# without python3-prometheus-client.
if(TARGET mqbroker AND TARGET mqnamesrv AND TARGET mqadmin AND TARGET mqbench)
  find_package(Python3 COMPONENTS Interpreter)
  if(Python3_FOUND)
    add_test(NAME 0500-metrics
             COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/0500-metrics.py ${CMAKE_BINARY_DIR})
    set_tests_properties(0500-metrics PROPERTIES TIMEOUT 240 SKIP_RETURN_CODE 77 LABELS metrics)
  endif()
endif()

