# packaging.cmake - Debian packages of the install components (`cpack -G DEB` in a build tree):
#
#   octoray         octoray-run, liboctoray.so.0, the man page, bash completion, configs
#   liboctoray-dev  headers, liboctoray.so and liboctoray.a, octoray.pc, the CMake package
#   octoray-xrt     the XRT device's module: the only package that needs XRT (libxrt1, and
#                   with it boost and libstdc++), so that octoray installs on any host
#   python3-octoray the Python binding and octoray-dask (Dask brings a large Python stack,
#                   which an appliance image does not want)
#
# The library is in octoray rather than a liboctoray0 of its own: its soname is 0 and nothing
# else ships it yet; split it out when a second ABI has to be co-installable. The packages
# install where the build was configured to install: configure a build to package with
# -DCMAKE_INSTALL_PREFIX=/usr, since the .pc file, the CMake package and the library's fallback
# directory for the XRT module (runtime/module.c) are computed from it.

set(ORY_DEB_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_NAME octoray)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "Octoray maintainers <maintainers@users.noreply.r-seed-6a9d041a.example>")
# No CPACK_PACKAGE_DESCRIPTION_SUMMARY: CPack would put it before each package's own summary.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime dev python)
if(ORY_WITH_XRT)
  list(APPEND CPACK_COMPONENTS_ALL xrt)
endif()
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_VERSION ${ORY_DEB_VERSION})
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends on the libraries' packages from what the binaries link (dpkg-shlibdeps).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# octoray-run links liboctoray.so.0 of the same package: where dpkg-shlibdeps finds it.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${PROJECT_BINARY_DIR})
# A shlibs file for liboctoray.so.0 (for packages that link it) and the ldconfig trigger.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME octoray)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SUGGESTS "octoray-xrt")
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION
  "spread data-parallel work over every accelerator and core of a host
octoray-run compresses and decompresses gzip data (as gzip and pigz) and classifies
CIFAR-10 images (CNV-W1A1) on every CPU core and accelerator of one host, writing the
results in input order; liboctoray is the same engine for embedding. Alveo cards need
octoray-xrt.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME liboctoray-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
# liboctoray.a and octoray.pc's Requires.private: a static link needs these libraries' own
# development files. libudev-dev: Debian's hwloc.pc lists -ludev in its Libs.private, which
# `pkg-config --static` passes on, but libhwloc-dev does not depend on it.
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "octoray (= ${ORY_DEB_VERSION}), libhwloc-dev, \
liburing-dev, zlib1g-dev, libisal-dev, libdeflate-dev, libinih-dev, libudev-dev")
set(CPACK_DEBIAN_DEV_DESCRIPTION
  "development files of liboctoray
Headers (octoray.h for embedders, device.h for device backends), the shared and the static
library, octoray.pc and the CMake package (octoray::octoray, octoray::octoray_static).")

set(CPACK_DEBIAN_XRT_PACKAGE_NAME octoray-xrt)
set(CPACK_DEBIAN_XRT_PACKAGE_SECTION libs)
# A module is only ever loaded by the library of its own build (runtime/module.h).
set(CPACK_DEBIAN_XRT_PACKAGE_DEPENDS "octoray (= ${ORY_DEB_VERSION})")
set(CPACK_DEBIAN_XRT_DESCRIPTION
  "Xilinx Alveo cards for octoray, through XRT
The XRT device of liboctoray (gzip engines and FINN's CNV design on Alveo cards), which the
library loads when a device spec asks for cards. A package of its own because XRT brings
boost and libstdc++, which octoray itself does not need.")

set(CPACK_DEBIAN_PYTHON_PACKAGE_NAME python3-octoray)
set(CPACK_DEBIAN_PYTHON_PACKAGE_SECTION python)
set(CPACK_DEBIAN_PYTHON_PACKAGE_ARCHITECTURE all)
# ctypes loads the library of this very build (its path is written at install).
set(CPACK_DEBIAN_PYTHON_PACKAGE_DEPENDS
  "octoray (= ${ORY_DEB_VERSION}), python3, python3-distributed, python3-dask")
set(CPACK_DEBIAN_PYTHON_DESCRIPTION
  "octoray on a Dask cluster: octoray-dask and the Python binding
octoray-dask runs octoray's gzip and CNV jobs over several hosts with Dask, every host using
all of its devices through liboctoray; the output is byte-identical to octoray-run's. The
octoray Python package is a ctypes binding to the installed liboctoray.")

include(CPack)
