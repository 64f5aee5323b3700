# Loaded with -DCMAKE_PROJECT_INCLUDE (scripts/vision_msgs/build.py). The ROS message wheels export CMake targets
# (std_msgs::std_msgs__rosidl_generator_py and the like) whose include folders are the Python and NumPy headers of
# the machine that built the wheels (/opt/python/cp311-cp311/...). CMake refuses a target that names a missing
# folder, so once every find_package of the project has run, each such folder is replaced by this interpreter's.

execute_process(
  COMMAND "${Python3_EXECUTABLE}" -c
    "import sysconfig, numpy; print(sysconfig.get_paths()['include'] + ';' + numpy.get_include())"
  OUTPUT_VARIABLE _rgbt_python_includes OUTPUT_STRIP_TRAILING_WHITESPACE
  RESULT_VARIABLE _rgbt_python_result)
if(NOT _rgbt_python_result EQUAL 0)
  message(FATAL_ERROR "python_includes.cmake: ${Python3_EXECUTABLE} cannot say where its headers and NumPy's are "
    "(pass -DPython3_EXECUTABLE=<the interpreter that has numpy>)")
endif()
list(GET _rgbt_python_includes 0 RGBT_PYTHON_INCLUDE)
list(GET _rgbt_python_includes 1 RGBT_NUMPY_INCLUDE)
if(NOT EXISTS "${RGBT_PYTHON_INCLUDE}/Python.h")
  message(FATAL_ERROR "python_includes.cmake: no Python.h in ${RGBT_PYTHON_INCLUDE}: install this Python's "
    "development headers (Debian/Ubuntu: python3-dev)")
endif()

function(rgbt_fix_python_includes)
  get_property(_targets DIRECTORY "${CMAKE_SOURCE_DIR}" PROPERTY IMPORTED_TARGETS)
  foreach(_target IN LISTS _targets)
    get_target_property(_dirs ${_target} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _dirs)
      continue()
    endif()
    set(_fixed "")
    foreach(_dir IN LISTS _dirs)
      if(NOT EXISTS "${_dir}" AND _dir MATCHES "/include/python3\\.[0-9]+$")
        set(_dir "${RGBT_PYTHON_INCLUDE}")
      elseif(NOT EXISTS "${_dir}" AND _dir MATCHES "/numpy/(_core/|core/)?include$")
        set(_dir "${RGBT_NUMPY_INCLUDE}")
      endif()
      list(APPEND _fixed "${_dir}")
    endforeach()
    set_target_properties(${_target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_fixed}")
  endforeach()
endfunction()

# after the last line of CMakeLists.txt, before CMake checks the targets
cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL rgbt_fix_python_includes)
