# Guard for the per-ISA GEMM objects (ukernel.h: they share no inline code with other translation
# units). Every symbol such an object defines with external linkage must name that object's ISA,
# e.g. sgemm_avx2_6x16: an inline function, template or static-storage helper leaking out (a weak
# std:: instantiation compiled with -mavx2, say) would be merged by the linker with the portable
# copy, and an older CPU could then run the AVX2/AVX-512 one.
#   cmake -DNM=<nm> -DOBJECTS="<objects of tapegrad_engine>" -P check_isa_symbols.cmake
set(_checked 0)
foreach(obj IN LISTS OBJECTS)
  get_filename_component(_name "${obj}" NAME)
  if(_name MATCHES "gemm_ukernel_(avx2|avx512)_")
    set(_isa "${CMAKE_MATCH_1}")
    execute_process(COMMAND "${NM}" -g --defined-only -C "${obj}"
                    OUTPUT_VARIABLE _out RESULT_VARIABLE _rc)
    if(NOT _rc EQUAL 0)
      message(FATAL_ERROR "nm failed on ${obj}")
    endif()
    string(REPLACE "\n" ";" _lines "${_out}")
    set(_count 0)
    foreach(line IN LISTS _lines)
      if(line STREQUAL "")
        continue()
      endif()
      math(EXPR _count "${_count} + 1")
      if(NOT line MATCHES "tg::kernels::gemm_detail::[a-z_0-9]*_${_isa}_[0-9x]+(_f32|_f64)?\\(")
        message(FATAL_ERROR "${_name} exports a symbol that does not name its ISA ${_isa}:\n  ${line}")
      endif()
    endforeach()
    if(_count EQUAL 0)
      message(FATAL_ERROR "${_name} exports nothing: the check read the wrong file")
    endif()
    message(STATUS "${_name}: ${_count} symbols, all ${_isa} entry points")
    math(EXPR _checked "${_checked} + 1")
  endif()
endforeach()
if(_checked EQUAL 0)
  message(STATUS "no per-ISA GEMM objects on this platform (not x86-64): nothing to check")
endif()
message(STATUS "1 passed, 0 failed")
