# Store-damage matrix (issue 12): unit-level on the store, tiny segments, temp dirs.
rmq_unit_test(fault_store_damage SOURCES ${CMAKE_CURRENT_LIST_DIR}/fault_store_damage.c
              LIBS rmq_store TIMEOUT 120)
target_include_directories(fault_store_damage PRIVATE ${CMAKE_SOURCE_DIR})
set_property(TEST fault_store_damage APPEND PROPERTY LABELS fault)
