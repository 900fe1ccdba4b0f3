# sanitizer_reports.cmake - the sanitizer build's ctest fixture (tests/CMakeLists.txt).
# Every test process, and every coachbox server or CLI it starts, writes its
# AddressSanitizer / LeakSanitizer / UBSan reports to files in DIR (log_path), so
# a report from a server whose exit status a test does not check still fails the run.
#   cmake -DDIR=... -DMODE=clear -P sanitizer_reports.cmake   empty DIR (fixture setup)
#   cmake -DDIR=... -DMODE=check -P sanitizer_reports.cmake   fail if DIR holds a report
if(NOT DIR OR NOT MODE)
  message(FATAL_ERROR "usage: cmake -DDIR=... -DMODE=clear|check -P sanitizer_reports.cmake")
endif()
if(MODE STREQUAL "clear")
  file(REMOVE_RECURSE "${DIR}")
  file(MAKE_DIRECTORY "${DIR}")
elseif(MODE STREQUAL "check")
  file(GLOB reports "${DIR}/*")
  if(reports)
    foreach(r IN LISTS reports)
      file(READ "${r}" text LIMIT 20000)
      message("==== ${r}\n${text}")
    endforeach()
    list(LENGTH reports n)
    message(FATAL_ERROR "${n} sanitizer report(s) in ${DIR} (LeakSanitizer, ASan or UBSan)")
  endif()
  message("no sanitizer reports in ${DIR}")
else()
  message(FATAL_ERROR "MODE must be clear or check")
endif()
