# Freeze the m2v package and the default model into MicroPython firmware
# (relative paths are relative to this file).
#
#   make freeze                      # writes build/frozen/m2v_model.py from firmware_assets/model.m2v
#   cd micropython/ports/esp32
#   make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/repo/firmware_assets/manifest.py
#
# On the board: import m2v, m2v_model; m = m2v.Model(m2v_model.MODEL)
# (the bytes stay in flash; nothing is copied to RAM).
include("$(PORT_DIR)/boards/manifest.py")
include("../device/manifest.py")
module("m2v_model.py", base_path="../build/frozen")
