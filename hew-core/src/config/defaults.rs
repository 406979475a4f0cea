//! The built-in defaults, as a commented TOML file that documents every key. It is the
//! lowest config layer, and `hew config` can show it as a starting point.

/// The text of the built-in `default-config.toml`.
pub const DEFAULT_CONFIG: &str = include_str!("default-config.toml");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::config::keys::keys;

    #[test]
    fn default_config_file_is_exactly_the_default_struct() {
        let parsed: Config = toml::from_str(DEFAULT_CONFIG).unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn default_config_file_documents_every_key() {
        let doc: toml::Table = toml::from_str(DEFAULT_CONFIG).unwrap();
        for def in keys() {
            let (section, leaf) = def.path.rsplit_once('.').unwrap_or(("", def.path));
            let mut table = &doc;
            for part in section.split('.').filter(|p| !p.is_empty()) {
                table = table[part].as_table().unwrap();
            }
            if def.optional {
                let commented = format!("# {leaf} = ");
                assert!(!table.contains_key(leaf), "{} has no default", def.path);
                assert!(
                    DEFAULT_CONFIG.contains(&commented),
                    "{} is not shown",
                    def.path
                );
            } else {
                assert!(table.contains_key(leaf), "{} is missing", def.path);
            }
        }
    }
}
