//! Listing devices and finding the one a [`DeviceSelector`] names.

use cpal::traits::{DeviceTrait, HostTrait};

use crate::error::DeviceError;
use crate::event::Direction;
use crate::format::ConfigRange;

/// Which device to open.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum DeviceSelector {
    /// The host's default device for the direction.
    #[default]
    Default,
    /// A device by its [`DeviceInfo::id`] (tried first) or its [`DeviceInfo::name`].
    Name(String),
}

/// A device as listed by [`DeviceManager::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The host's stable identifier (on ALSA the PCM name, such as `default` or
    /// `hw:CARD=0,DEV=0`). Open it with [`DeviceSelector::Name`].
    pub id: String,
    /// A human-readable name.
    pub name: String,
    /// Whether this is the host's default capture device.
    pub is_default_input: bool,
    /// Whether this is the host's default playout device.
    pub is_default_output: bool,
    /// Capture configurations (empty if the device cannot capture, or could not be queried:
    /// for example because it is busy or gone).
    pub input: Vec<ConfigRange>,
    /// Playout configurations (empty if the device cannot play, or could not be queried).
    pub output: Vec<ConfigRange>,
}

/// The entry point to the host's devices (control side only).
pub struct DeviceManager {
    host: cpal::Host,
}

impl std::fmt::Debug for DeviceManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceManager")
            .field("host", &self.host.id())
            .finish()
    }
}

fn device_id(d: &cpal::Device) -> Option<String> {
    d.id().ok().map(|id| id.id().to_owned())
}

impl DeviceManager {
    /// The platform's default host (ALSA on Linux).
    ///
    /// # Errors
    /// [`DeviceError::HostUnavailable`] never on ALSA (cpal assumes it is there); kept for hosts
    /// that can be missing.
    pub fn new() -> Result<Self, DeviceError> {
        Ok(DeviceManager {
            host: cpal::default_host(),
        })
    }

    /// Every device with the configurations it supports, the default devices first. Opening
    /// each device to query it takes a few milliseconds per device; call it off the audio path.
    ///
    /// # Errors
    /// [`DeviceError::HostUnavailable`] if the host cannot enumerate devices.
    pub fn list(&self) -> Result<Vec<DeviceInfo>, DeviceError> {
        let default_in = self.host.default_input_device();
        let default_out = self.host.default_output_device();
        let default_in_id = default_in.as_ref().and_then(device_id);
        let default_out_id = default_out.as_ref().and_then(device_id);
        let mut devices: Vec<cpal::Device> = default_in.into_iter().collect();
        if let Some(out) = default_out
            && device_id(&out) != default_in_id
        {
            devices.push(out);
        }
        let listed = self
            .host
            .devices()
            .map_err(|e| DeviceError::HostUnavailable(e.to_string()))?;
        for d in listed {
            let id = device_id(&d);
            if id.is_some() && (id == default_in_id || id == default_out_id) {
                continue;
            }
            devices.push(d);
        }
        Ok(devices
            .iter()
            .filter_map(|d| {
                let id = device_id(d)?;
                let name = d
                    .description()
                    .map(|desc| desc.name().to_owned())
                    .unwrap_or_else(|_| id.clone());
                let input = match d.supported_input_configs() {
                    Ok(r) => ConfigRange::from_cpal(r),
                    Err(_) => Vec::new(),
                };
                let output = match d.supported_output_configs() {
                    Ok(r) => ConfigRange::from_cpal(r),
                    Err(_) => Vec::new(),
                };
                Some(DeviceInfo {
                    is_default_input: Some(&id) == default_in_id.as_ref(),
                    is_default_output: Some(&id) == default_out_id.as_ref(),
                    id,
                    name,
                    input,
                    output,
                })
            })
            .collect())
    }

    /// The devices that can capture.
    ///
    /// # Errors
    /// As [`DeviceManager::list`].
    pub fn input_devices(&self) -> Result<Vec<DeviceInfo>, DeviceError> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|d| !d.input.is_empty())
            .collect())
    }

    /// The devices that can play.
    ///
    /// # Errors
    /// As [`DeviceManager::list`].
    pub fn output_devices(&self) -> Result<Vec<DeviceInfo>, DeviceError> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|d| !d.output.is_empty())
            .collect())
    }

    /// Finds the device `selector` names for `direction`.
    pub(crate) fn find(
        &self,
        selector: &DeviceSelector,
        direction: Direction,
    ) -> Result<cpal::Device, DeviceError> {
        match selector {
            DeviceSelector::Default => match direction {
                Direction::Capture => self.host.default_input_device(),
                Direction::Playout => self.host.default_output_device(),
            }
            .ok_or(DeviceError::NoDefault(direction)),
            DeviceSelector::Name(name) => {
                let not_found = || DeviceError::NotFound {
                    direction,
                    name: name.clone(),
                };
                let devices: Vec<cpal::Device> = self
                    .host
                    .devices()
                    .map_err(|e| DeviceError::HostUnavailable(e.to_string()))?
                    .collect();
                if let Some(d) = devices
                    .iter()
                    .find(|d| device_id(d).as_deref() == Some(name.as_str()))
                {
                    return Ok(d.clone());
                }
                // The default device is not always enumerated (ALSA's `default` has no hint).
                let default = match direction {
                    Direction::Capture => self.host.default_input_device(),
                    Direction::Playout => self.host.default_output_device(),
                };
                if let Some(d) = default
                    && device_id(&d).as_deref() == Some(name.as_str())
                {
                    return Ok(d);
                }
                devices
                    .into_iter()
                    .find(|d| d.description().is_ok_and(|desc| desc.name() == name))
                    .ok_or_else(not_found)
            }
        }
    }
}
