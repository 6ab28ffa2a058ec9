# Install, package and quick-start checks (issue 13). Shell scripts against the build tree.
# sdk-link: an installed tree's librmq.a / librmq.so linked from C and C++, README C snippets.
# Not in sanitizer builds: their librmq needs the sanitizer runtimes a user's program lacks.
if(TARGET rmq AND TARGET rmq_static AND NOT RMQ_ASAN AND NOT RMQ_UBSAN AND NOT RMQ_TSAN)
  add_test(NAME sdk-link COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/sdk-link.sh ${CMAKE_SOURCE_DIR}
                                 ${CMAKE_BINARY_DIR})
  set_tests_properties(sdk-link PROPERTIES LABELS "sdk;package" TIMEOUT 300)
endif()

# package-deb: cpack -G DEB, dpkg -x into a scratch root, the packaged servers and mqadmin run.
find_program(RMQ_DPKG_DEB dpkg-deb)
find_program(RMQ_CPACK cpack)
if(RMQ_DPKG_DEB AND RMQ_CPACK AND TARGET mqbroker AND TARGET mqnamesrv AND TARGET mqadmin)
  add_test(NAME package-deb COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/package-deb.sh ${CMAKE_BINARY_DIR})
  set_tests_properties(package-deb PROPERTIES LABELS "package;integration" TIMEOUT 600
                       RUN_SERIAL TRUE)
endif()

# readme-markers: every sh block of the three READMEs is classified for test-readme.sh (runs
# nothing; fails naming each unmarked block).
add_test(NAME readme-markers COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/readme-markers.sh ${CMAKE_SOURCE_DIR})
set_tests_properties(readme-markers PROPERTIES LABELS "readme;package" TIMEOUT 60)

# readme: scripts/test-readme.sh runs README.md's quick start and client/README.md's commands as
# written. It installs packages, binds 9876/10911 and installs into /opt/rmq: opt-in (CI).
option(RMQ_README_TEST "Register the readme test (scripts/test-readme.sh)" OFF)
if(RMQ_README_TEST)
  add_test(NAME readme COMMAND sh ${CMAKE_SOURCE_DIR}/scripts/test-readme.sh)
  set_tests_properties(readme PROPERTIES LABELS readme TIMEOUT 1800 RUN_SERIAL TRUE)
endif()
