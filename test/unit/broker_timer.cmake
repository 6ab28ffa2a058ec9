# 5.x timer message intake rules (broker/timer_intake.c).
if(TARGET rmq_broker_lib)
  rmq_unit_test(test_broker_timer SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_broker_timer.c
                LIBS rmq_broker_lib TIMEOUT 30)
endif()
