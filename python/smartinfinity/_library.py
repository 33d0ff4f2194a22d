"""Finding and loading libsmartinfinity.so (the C ABI in include/smartinf.h) through ctypes."""

import ctypes
import json
import os
from pathlib import Path

#: The library file the package looks for.
LIBRARY_NAME = "libsmartinfinity.so"

_library = None


class SmartInfError(RuntimeError):
    """A call into libsmartinfinity failed: `code` is one of the SMARTINF_E_* codes."""

    BAD_ARGUMENT, BAD_STATE, DEVICE, FAILED = 1, 2, 3, 4

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def _candidates():
    """Where the library may be, in order: $SMARTINF_LIBRARY, beside this package, the
    repository's build folders (release first)."""
    env = os.environ.get("SMARTINF_LIBRARY")
    if env:
        yield Path(env)
        return
    here = Path(__file__).resolve().parent
    yield here / LIBRARY_NAME
    for root in [here.parent.parent, Path.cwd()]:
        for config in ["release", "debug"]:
            yield root / ".build" / config / LIBRARY_NAME


def library_path():
    tried = []
    for path in _candidates():
        tried.append(str(path))
        if path.is_file():
            return path
    raise SmartInfError(SmartInfError.FAILED,
                        f"cannot find {LIBRARY_NAME} (looked at {', '.join(tried)}); build it with "
                        "`swift build -c release --product smartinfinity` and set SMARTINF_LIBRARY to its path")


def smartssd_path():
    """The `smartssd` device executable: $SMARTINF_SMARTSSD, or beside the library."""
    env = os.environ.get("SMARTINF_SMARTSSD")
    if env:
        return env
    beside = library_path().parent / "smartssd"
    return str(beside) if beside.is_file() else None


def load_library():
    """The loaded library, with every function's C signature declared."""
    global _library
    if _library is not None:
        return _library
    lib = ctypes.CDLL(str(library_path()))
    handle = ctypes.c_void_p
    i32, i64, f64 = ctypes.c_int32, ctypes.c_int64, ctypes.c_double
    signatures = {
        "smartinf_create": [ctypes.c_char_p, ctypes.POINTER(handle)],
        "smartinf_register": [handle, ctypes.c_void_p, i64, i32, i32],
        "smartinf_set_group": [handle, i32, f64, f64],
        "smartinf_start": [handle],
        "smartinf_flat_buffers": [handle, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p)],
        "smartinf_move_tensor": [handle, i64, ctypes.c_void_p],
        "smartinf_step": [handle, ctypes.POINTER(ctypes.c_void_p), i64, ctypes.POINTER(i32), ctypes.POINTER(f64),
                          ctypes.POINTER(f64)],
        "smartinf_step_scaled": [handle, ctypes.POINTER(ctypes.c_void_p), i64, f64, i32, ctypes.POINTER(i32),
                                 ctypes.POINTER(f64)],
        "smartinf_parameter_count": [handle, ctypes.POINTER(i64)],
        "smartinf_applied_steps": [handle, ctypes.POINTER(i64)],
        "smartinf_steps_taken": [handle, ctypes.POINTER(i64)],
        "smartinf_recoveries": [handle, ctypes.POINTER(i64)],
        "smartinf_read_state": [handle, i32, ctypes.c_void_p, i64],
        "smartinf_load_state": [handle, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, i64, i64],
        "smartinf_device_pid": [handle, i32, ctypes.POINTER(i32)],
        "smartinf_loss_scale": [handle, ctypes.POINTER(f64)],
        "smartinf_loss_scaler_position": [handle, ctypes.POINTER(f64), ctypes.POINTER(i64), ctypes.POINTER(i64),
                                          ctypes.POINTER(i64)],
        "smartinf_set_loss_scaler_position": [handle, f64, i64, i64, i64],
        "smartinf_read_error_feedback": [handle, ctypes.c_void_p, i64, ctypes.POINTER(i64)],
        "smartinf_load_error_feedback": [handle, ctypes.c_void_p, i64, i64],
        "smartinf_read_config": [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, i64, ctypes.POINTER(i64)],
        "smartinf_learning_rate": [ctypes.c_char_p, f64, i64, ctypes.POINTER(f64)],
        "smartinf_close": [handle],
    }
    for name, arguments in signatures.items():
        function = getattr(lib, name)
        function.argtypes = arguments
        function.restype = ctypes.c_int
    lib.smartinf_last_error.argtypes = []
    lib.smartinf_last_error.restype = ctypes.c_char_p
    _library = lib
    return lib


def check(code):
    """Raises the library's error for a non-zero return code."""
    if code != 0:
        message = load_library().smartinf_last_error()
        raise SmartInfError(code, message.decode() if message else f"error {code}")


def check_config(code):
    """As `check`, but a value the library refuses is a ValueError (a config's wrong key or type)."""
    try:
        check(code)
    except SmartInfError as error:
        if error.code == SmartInfError.BAD_ARGUMENT:
            raise ValueError(str(error)) from None
        raise


def read_config(text, source):
    """The DeepSpeed-style config `text` as the library reads it (smartinf_read_config): a dict
    in smartinf_create's keys, plus the batch keys, the scheduler's type and the ignored keys."""
    lib = load_library()
    length = ctypes.c_int64()
    encoded, name = text.encode(), source.encode()
    check_config(lib.smartinf_read_config(encoded, name, None, 0, ctypes.byref(length)))
    out = ctypes.create_string_buffer(length.value)
    check_config(lib.smartinf_read_config(encoded, name, out, length.value, ctypes.byref(length)))
    return json.loads(out.value.decode())


def learning_rate(scheduler_json, lr, applied_steps):
    """The lr of the update after `applied_steps` applied ones under a config's scheduler section
    (smartinf_learning_rate); `lr` is the optimizer's (WarmupCosineLR's base)."""
    out = ctypes.c_double()
    check_config(load_library().smartinf_learning_rate(scheduler_json, float(lr), int(applied_steps), ctypes.byref(out)))
    return out.value
