# mqconsole (issue 14). console-api: the /api/ calls with curl + python3 (no browser needed).
# console-browser: headless Chromium (Debian's) driven by puppeteer-core from npm clicks through
# every page and saves screenshots to build/test-artifacts/console/; exit 77 (skipped, one
# line) where Chromium or puppeteer-core is not installed (scripts/install-deps.sh does both).
if(TARGET mqconsole AND TARGET mqbroker AND TARGET mqnamesrv)
  add_test(NAME console-api COMMAND bash ${CMAKE_SOURCE_DIR}/test/browser/console-api.sh
                                    ${CMAKE_BINARY_DIR})
  set_tests_properties(console-api PROPERTIES LABELS "console;integration" TIMEOUT 600
                       SKIP_RETURN_CODE 77)
  add_test(NAME console-browser COMMAND bash ${CMAKE_SOURCE_DIR}/test/browser/console-browser.sh
                                        ${CMAKE_BINARY_DIR})
  set_tests_properties(console-browser PROPERTIES LABELS "console;integration" TIMEOUT 900
                       SKIP_RETURN_CODE 77)
endif()
