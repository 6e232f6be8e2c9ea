# The m2v package for freezing into firmware (micropython-lib layout: this
# file sits beside the package folder, so package("m2v") is device/m2v/).
# firmware_assets/manifest.py includes it; a board manifest can too:
#   include("/path/to/repo/device/manifest.py")
metadata(version="0.1.0", description="Model2Vec static text embeddings for MicroPython")
package("m2v", opt=3)
