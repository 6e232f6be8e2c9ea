# The C core of the m2v package as a MicroPython user C module, the built-in module _m2v_native
# (the package looks it up before m2v/_native.mpy): for make-based ports, give the folder that
# holds this one (py/py.mk includes USER_C_MODULES/*/micropython.mk):
#   make -C ports/qemu BOARD=MICROBIT USER_C_MODULES=/path/to/repo/device
# CMake ports (rp2, esp32): micropython.cmake beside this file. docs/CUSTOM_FIRMWARE.md has the recipes.
M2V_NATIVE_DIR := $(USERMOD_DIR)
SRC_USERMOD_C += $(M2V_NATIVE_DIR)/m2v_native.c
