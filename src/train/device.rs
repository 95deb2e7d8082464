//! Which device a worker trains on: `cpu`, `cuda:N` or `auto` (every CUDA
//! device libtorch sees, else the CPU), as the command line, the
//! environment and the worker protocol spell it.
//!
//! libtorch's CUDA half lives in `libtorch_cuda.so`, which the linker drops
//! from the binary (nothing in Rust calls into it), so `tch::Cuda` sees no
//! device even on a GPU machine. [`cuda_devices`] loads it first, once:
//! ask it, never `tch::Cuda` directly, whether there is a GPU.
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use tch::Device;

/// The device(s) a worker is told to train on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceChoice {
    /// The CPU (today's packing of slots and threads).
    Cpu,
    /// One CUDA device by its index.
    Cuda(usize),
    /// Every CUDA device libtorch sees; the CPU when it sees none.
    Auto,
}

/// A device that cannot be trained on, or a text that names none.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// The text is not `cpu`, `cuda:N` or `auto`.
    #[error("unknown device `{0}`; expected cpu, cuda:N (N = 0, 1, ...) or auto")]
    Unknown(String),
    /// CUDA was asked for and libtorch has none; `why` says what is missing.
    #[error("device {asked}: no CUDA device is available ({why})")]
    NoCuda { asked: String, why: String },
    /// `cuda:N` past the devices there are.
    #[error("device {asked}: this machine has {count} CUDA device(s), cuda:0 to cuda:{last}", last = count.saturating_sub(1))]
    NoSuchCuda { asked: String, count: usize },
    /// A libtorch device the trainer does not train on (MPS, Vulkan).
    #[error("device {0}: hypersweep trains on cpu or cuda:N only")]
    Unsupported(String),
}

impl DeviceChoice {
    /// The devices to train on: `cpu` is the CPU, `cuda:N` that GPU (an
    /// error when there is no such one), `auto` every GPU libtorch sees, or
    /// the CPU when it sees none.
    pub fn resolve(self) -> Result<Vec<Device>, DeviceError> {
        match self {
            DeviceChoice::Cpu => Ok(vec![Device::Cpu]),
            DeviceChoice::Cuda(n) => {
                check(Device::Cuda(n))?;
                Ok(vec![Device::Cuda(n)])
            }
            DeviceChoice::Auto => match cuda_devices() {
                Ok(count) => Ok((0..count).map(Device::Cuda).collect()),
                Err(why) => {
                    tracing::info!("device auto: training on the CPU ({why})");
                    Ok(vec![Device::Cpu])
                }
            },
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
            DeviceChoice::Auto => f.write_str("auto"),
        }
    }
}

impl FromStr for DeviceChoice {
    type Err = DeviceError;

    fn from_str(text: &str) -> Result<DeviceChoice, DeviceError> {
        let unknown = || DeviceError::Unknown(text.to_string());
        match text {
            "cpu" => Ok(DeviceChoice::Cpu),
            "auto" => Ok(DeviceChoice::Auto),
            _ => {
                let index = text.strip_prefix("cuda:").ok_or_else(unknown)?;
                // Digits only: `usize::from_str` takes a leading `+`.
                if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(unknown());
                }
                index.parse().map(DeviceChoice::Cuda).map_err(|_| unknown())
            }
        }
    }
}

impl TryFrom<String> for DeviceChoice {
    type Error = DeviceError;

    fn try_from(text: String) -> Result<DeviceChoice, DeviceError> {
        text.parse()
    }
}

impl From<DeviceChoice> for String {
    fn from(choice: DeviceChoice) -> String {
        choice.to_string()
    }
}

/// A device as the worker protocol names it: `cpu` or `cuda:N`.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(n) => format!("cuda:{n}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Whether `device` can be trained on here: the CPU always, `cuda:N` when
/// libtorch sees at least N + 1 CUDA devices.
pub fn check(device: Device) -> Result<(), DeviceError> {
    let asked = device_name(device);
    match device {
        Device::Cpu => Ok(()),
        Device::Cuda(n) => {
            let count = cuda_devices().map_err(|why| DeviceError::NoCuda {
                asked: asked.clone(),
                why,
            })?;
            if n < count {
                Ok(())
            } else {
                Err(DeviceError::NoSuchCuda { asked, count })
            }
        }
        _ => Err(DeviceError::Unsupported(asked)),
    }
}

/// How many CUDA devices libtorch sees (at least 1), once its CUDA library
/// is loaded; why there are none otherwise (no CUDA build of libtorch, a
/// library or the driver missing, no GPU).
pub fn cuda_devices() -> Result<usize, String> {
    load_cuda()?;
    match usize::try_from(tch::Cuda::device_count()).unwrap_or(0) {
        0 => {
            Err("libtorch's CUDA library is loaded but sees no GPU (no driver or no device)".into())
        }
        count => Ok(count),
    }
}

/// Loads `libtorch_cuda.so` once, process-wide, before anything asks
/// libtorch about CUDA: libtorch reads its CUDA hooks once, at the first
/// question, and keeps the CPU-only answer for good if the library was not
/// there by then. Found by the binary's rpath or `LD_LIBRARY_PATH`, else
/// beside the `libtorch_cpu.so` already loaded.
fn load_cuda() -> Result<(), String> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    LOADED.get_or_init(open_cuda_library).clone()
}

#[cfg(target_os = "linux")]
fn open_cuda_library() -> Result<(), String> {
    use std::ffi::{CStr, CString};
    const NAME: &str = "libtorch_cuda.so";
    let open = |path: &str| -> Result<(), String> {
        let path = CString::new(path).map_err(|e| e.to_string())?;
        // SAFETY: a NUL-terminated path; the handle is never closed, so the
        // library stays loaded for the life of the process, as libtorch
        // needs. dlerror's text is copied at once, on this thread.
        unsafe {
            let handle = libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL);
            if handle.is_null() {
                let error = libc::dlerror();
                return Err(if error.is_null() {
                    "dlopen failed".into()
                } else {
                    CStr::from_ptr(error).to_string_lossy().into_owned()
                });
            }
        }
        Ok(())
    };
    let by_name = open(NAME);
    if by_name.is_ok() {
        return by_name;
    }
    match libtorch_folder() {
        Some(folder) => open(&format!("{folder}/{NAME}")),
        None => by_name,
    }
    .map_err(|e| format!("cannot load {NAME}: {e}"))
}

/// The folder of the `libtorch_cpu.so` this process runs with.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn libtorch_folder() -> Option<String> {
    use std::ffi::CStr;
    // SAFETY: RTLD_NOLOAD only looks the loaded library up; RTLD_DI_ORIGIN
    // writes a NUL-terminated path of at most PATH_MAX bytes into `origin`.
    unsafe {
        let handle = libc::dlopen(
            c"libtorch_cpu.so".as_ptr(),
            libc::RTLD_NOW | libc::RTLD_NOLOAD,
        );
        if handle.is_null() {
            return None;
        }
        let mut origin = [0 as libc::c_char; libc::PATH_MAX as usize + 1];
        let found = libc::dlinfo(handle, libc::RTLD_DI_ORIGIN, origin.as_mut_ptr().cast());
        libc::dlclose(handle);
        (found == 0).then(|| {
            CStr::from_ptr(origin.as_ptr())
                .to_string_lossy()
                .into_owned()
        })
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn libtorch_folder() -> Option<String> {
    None
}

/// Elsewhere libtorch's CUDA library is linked as it is.
#[cfg(not(target_os = "linux"))]
fn open_cuda_library() -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_read_back_from_their_text_and_serde() {
        for (text, choice) in [
            ("cpu", DeviceChoice::Cpu),
            ("auto", DeviceChoice::Auto),
            ("cuda:0", DeviceChoice::Cuda(0)),
            ("cuda:12", DeviceChoice::Cuda(12)),
        ] {
            assert_eq!(text.parse::<DeviceChoice>().unwrap(), choice);
            assert_eq!(choice.to_string(), text);
            assert_eq!(
                serde_json::to_value(choice).unwrap(),
                serde_json::json!(text)
            );
            let back: DeviceChoice = serde_json::from_value(serde_json::json!(text)).unwrap();
            assert_eq!(back, choice);
        }
    }

    #[test]
    fn an_unknown_device_is_an_error_naming_it() {
        for text in [
            "gpu", "cuda", "cuda:", "cuda:x", "cuda:+1", "cuda:-1", "CPU", " cpu", "",
        ] {
            let e = text.parse::<DeviceChoice>().unwrap_err();
            assert_eq!(e, DeviceError::Unknown(text.into()));
            let message = e.to_string();
            assert!(message.contains(&format!("`{text}`")), "{message}");
            assert!(message.contains("cpu, cuda:N"), "{message}");
        }
        let e = serde_json::from_value::<DeviceChoice>(serde_json::json!("tpu")).unwrap_err();
        assert!(e.to_string().contains("unknown device `tpu`"), "{e}");
    }

    #[test]
    fn cpu_resolves_to_the_cpu_and_auto_to_what_there_is() {
        assert_eq!(DeviceChoice::Cpu.resolve().unwrap(), [Device::Cpu]);
        let auto = DeviceChoice::Auto.resolve().unwrap();
        match cuda_devices() {
            Ok(count) => assert_eq!(auto, (0..count).map(Device::Cuda).collect::<Vec<_>>()),
            Err(_) => assert_eq!(auto, [Device::Cpu]),
        }
        assert_eq!(check(Device::Cpu), Ok(()));
        assert!(matches!(
            check(Device::Mps),
            Err(DeviceError::Unsupported(_))
        ));
    }

    /// Past the devices there are, `cuda:N` says how many there are, or
    /// why there are none.
    #[test]
    fn a_cuda_device_that_is_not_there_is_an_error_saying_what_there_is() {
        match cuda_devices() {
            Ok(count) => {
                let e = DeviceChoice::Cuda(count).resolve().unwrap_err();
                assert_eq!(
                    e,
                    DeviceError::NoSuchCuda {
                        asked: format!("cuda:{count}"),
                        count
                    }
                );
                let message = e.to_string();
                assert!(
                    message.contains(&format!("has {count} CUDA device")),
                    "{message}"
                );
                assert_eq!(DeviceChoice::Cuda(0).resolve().unwrap(), [Device::Cuda(0)]);
            }
            Err(why) => {
                let e = DeviceChoice::Cuda(0).resolve().unwrap_err();
                assert_eq!(
                    e,
                    DeviceError::NoCuda {
                        asked: "cuda:0".into(),
                        why: why.clone()
                    }
                );
                let message = e.to_string();
                assert!(
                    message.starts_with("device cuda:0: no CUDA device"),
                    "{message}"
                );
                assert!(message.contains(&why), "{message}");
            }
        }
    }

    #[test]
    fn devices_are_named_as_the_protocol_spells_them() {
        assert_eq!(device_name(Device::Cpu), "cpu");
        assert_eq!(device_name(Device::Cuda(1)), "cuda:1");
    }
}
