# `cmake --install build --prefix P` and the Debian package (issue 13). Layout under P, as
# deploy/README.md describes it for P=/opt/rmq:
#   bin/                  mqnamesrv mqbroker mqadmin mqbench store_check mqconsole
#   lib/ include/rmq/     librmq.so.0, librmq.a, headers, lib/pkgconfig/rmq{,-static}.pc (client/)
#   etc/rmq/              the conf/ examples (namesrv.conf, broker.conf, 2m-2s-async/, ...)
#   lib/systemd/system/   mqnamesrv.service, mqbroker@.service (they run P=/opt/rmq's binaries
#                         with /etc/rmq/<name>.conf)
#   share/rmq/sysctl/     90-rmq.conf
#   share/doc/rmq/        README.md, deploy-README.md, sdk-README.md and <binary>.txt, each
#                         binary's -h text (mqadmin.txt has every subcommand's help)
include(GNUInstallDirs)

set(RMQ_INSTALL_BINS "")
foreach(b mqnamesrv mqbroker mqadmin mqbench store_check mqconsole)
  if(TARGET ${b})
    list(APPEND RMQ_INSTALL_BINS ${b})
  endif()
endforeach()
install(TARGETS ${RMQ_INSTALL_BINS} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# etc/rmq under the prefix, not GNUInstallDirs' /etc/opt/... (which would break --prefix).
install(DIRECTORY ${CMAKE_SOURCE_DIR}/conf/ DESTINATION etc/rmq)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/systemd/mqnamesrv.service
              ${CMAKE_SOURCE_DIR}/deploy/systemd/mqbroker@.service
        DESTINATION lib/systemd/system)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/sysctl/90-rmq.conf DESTINATION ${CMAKE_INSTALL_DATADIR}/rmq/sysctl)
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${CMAKE_SOURCE_DIR}/deploy/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR}
        RENAME deploy-README.md)
install(FILES ${CMAKE_SOURCE_DIR}/client/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR}
        RENAME sdk-README.md)

# Help text from the binaries themselves, so it never disagrees with them.
set(RMQ_HELP_DIR ${CMAKE_BINARY_DIR}/help)
add_custom_command(OUTPUT ${RMQ_HELP_DIR}/mqadmin.txt
                   COMMAND sh ${CMAKE_SOURCE_DIR}/scripts/gen-help.sh ${CMAKE_RUNTIME_OUTPUT_DIRECTORY}
                           ${RMQ_HELP_DIR}
                   DEPENDS ${RMQ_INSTALL_BINS} ${CMAKE_SOURCE_DIR}/scripts/gen-help.sh
                   COMMENT "help text of every binary (share/doc/rmq/*.txt)")
add_custom_target(rmq_help ALL DEPENDS ${RMQ_HELP_DIR}/mqadmin.txt)
install(DIRECTORY ${RMQ_HELP_DIR}/ DESTINATION ${CMAKE_INSTALL_DOCDIR} FILES_MATCHING PATTERN "*.txt")

# cpack -G DEB (or `cmake --build build --target package`): rmq_<version>_<arch>.deb installing
# the layout above under /opt/rmq.
set(CPACK_PACKAGE_NAME rmq)
set(CPACK_PACKAGE_VENDOR rmq)
set(CPACK_PACKAGE_CONTACT "rmq developers <rmq-dev@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "RocketMQ-compatible NameServer, broker, admin tool, benchmark and C SDK")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /opt/rmq)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON) # libuv1, libjansson4, zlib1g from the binaries
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://rocketmq.apache.org/")
include(CPack)
