# SPDX-License-Identifier: MIT
"""octoray - liboctoray from Python: a resident runtime over every local accelerator and CPU
core (Runtime), raw deflate pieces of a run of chunks with their index entries
(Runtime.deflate), the gzip framing around pieces compressed elsewhere (GzipFramer), CNV-W1A1
classification (Runtime.cnv) and the device counters (Runtime.devices).

The library is found through $OCTORAY_LIB, else the build tree of the source checkout this
package is in, else where `cmake --install` put it, else the system loader. Errors of the
library are raised as OctorayError with its one-line message.

octoray.worker and octoray.client are the Dask side (octoray-dask); this module does not
import Dask.
"""
from ._binding import (CHUNK_INFO_SIZE, CIFAR_RECORD, CNV_CSV, CNV_JSON, CNV_NONE, CNV_TEXT,
                       NEED_VERSION, RAW_IMAGE, UNKNOWN_SIZE, LibraryError, OctorayError,
                       class_name, load, strerror, version)
from ._runtime import CnvLines, GzipFramer, Pieces, Runtime

__all__ = [
    "CHUNK_INFO_SIZE", "CIFAR_RECORD", "CNV_CSV", "CNV_JSON", "CNV_NONE", "CNV_TEXT",
    "NEED_VERSION", "RAW_IMAGE", "CnvLines", "GzipFramer", "LibraryError", "OctorayError",
    "Pieces", "Runtime", "UNKNOWN_SIZE", "class_name", "load", "strerror", "version",
]
