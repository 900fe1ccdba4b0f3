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
  # A file is a finding when it holds a sanitizer error (ASan, LSan, UBSan) or
  # a SUMMARY line.  LeakSanitizer alone also writes a file with only the note
  # "Unable to get registers from thread N" when a thread is exiting while it
  # stops the world at process exit (seen under heavy load in it_sync_sim, whose
  # processes are killed at random moments): printed, not counted.
  file(GLOB reports "${DIR}/*")
  set(n 0)
  foreach(r IN LISTS reports)
    file(READ "${r}" text LIMIT 20000)
    string(REGEX MATCH "ERROR: |runtime error|SUMMARY: " finding "${text}")
    string(REGEX REPLACE "==[0-9]+==Unable to get registers from thread [0-9]+\\.?\n?" "" rest "${text}")
    string(STRIP "${rest}" rest)
    if(finding OR NOT rest STREQUAL "")
      message("==== ${r}\n${text}")
      math(EXPR n "${n} + 1")
    else()
      message("note (not a finding): ${r}: ${text}")
    endif()
  endforeach()
  if(n GREATER 0)
    message(FATAL_ERROR "${n} sanitizer report(s) in ${DIR} (LeakSanitizer, ASan or UBSan)")
  endif()
  message("no sanitizer reports in ${DIR}")
else()
  message(FATAL_ERROR "MODE must be clear or check")
endif()
