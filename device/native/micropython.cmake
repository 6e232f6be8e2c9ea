# The C core of the m2v package as a MicroPython user C module, the built-in module _m2v_native
# (the package looks it up before m2v/_native.mpy), for the CMake ports (rp2, esp32):
#   make -C ports/rp2 BOARD=RPI_PICO USER_C_MODULES=/path/to/repo/device/native/micropython.cmake
#   make -C ports/esp32 BOARD=ESP32_GENERIC_S3 USER_C_MODULES=/path/to/repo/device/native/micropython.cmake
# (or include() this file from a micropython.cmake listing several modules). The module is
# registered unconditionally: no compile definition to set (py/usermod.cmake's qstr pass would
# not see one). Make-based ports: micropython.mk beside this file. docs/CUSTOM_FIRMWARE.md.
add_library(usermod_m2v_native INTERFACE)

target_sources(usermod_m2v_native INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}/m2v_native.c
)

target_include_directories(usermod_m2v_native INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}
)

target_link_libraries(usermod INTERFACE usermod_m2v_native)
