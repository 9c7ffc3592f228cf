//! Driver specifications: which driver to load and its configuration,
//! `PATH[:key=value,...]` (spec/wadi.md §2.1), as `wasirun --device` and
//! the control file `/dev/wadi/driver` take them.

use wasi_core::Errno;

/// A driver to load and its configuration: `PATH[:key=value,...]`
/// (spec/wadi.md §2.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriverSpec {
    /// Where the driver is (a host path at start-up, a guest path at run time).
    pub path: String,
    /// The `key=value` pairs, in order.
    pub config: Vec<(String, String)>,
}

impl DriverSpec {
    /// Parses `PATH[:key=value,...]`; `EINVAL` for an empty path or an item
    /// without `=`.
    pub fn parse(text: &str) -> Result<Self, Errno> {
        let (path, config) = match text.split_once(':') {
            Some((path, config)) => (path, Some(config)),
            None => (text, None),
        };
        if path.is_empty() {
            return Err(Errno::INVAL);
        }
        let mut pairs = Vec::new();
        for item in config.into_iter().flat_map(|c| c.split(',')) {
            if item.is_empty() {
                continue;
            }
            let (key, value) = item.split_once('=').ok_or(Errno::INVAL)?;
            if key.is_empty() {
                return Err(Errno::INVAL);
            }
            pairs.push((key.to_string(), value.to_string()));
        }
        Ok(Self {
            path: path.to_string(),
            config: pairs,
        })
    }

    /// The driver's name: its file name without extension.
    pub fn name(&self) -> String {
        let file = self.path.rsplit('/').next().unwrap_or(&self.path);
        let stem = file.split_once('.').map_or(file, |(stem, _)| stem);
        if stem.is_empty() {
            "driver".into()
        } else {
            stem.into()
        }
    }

    /// The values of configuration key `key`.
    pub fn values<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.config
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_specs() {
        let spec = DriverSpec::parse("drivers/cowbell.wasm:dir=/tmp,out=bell.wav").unwrap();
        assert_eq!(spec.path, "drivers/cowbell.wasm");
        assert_eq!(spec.name(), "cowbell");
        assert_eq!(spec.values("out").collect::<Vec<_>>(), ["bell.wav"]);
        assert_eq!(spec.config.len(), 2);
        assert_eq!(DriverSpec::parse("x.wasm").unwrap().config, []);
        assert_eq!(DriverSpec::parse("x.wasm:a"), Err(Errno::INVAL));
        assert_eq!(DriverSpec::parse(":a=b"), Err(Errno::INVAL));
        assert_eq!(DriverSpec::parse("/d/z.wat:").unwrap().name(), "z");
        assert_eq!(
            DriverSpec::parse("x:k=a=b").unwrap().config,
            [("k".to_string(), "a=b".to_string())]
        );
    }
}
