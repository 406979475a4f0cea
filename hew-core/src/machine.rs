//! Which machine this is, beyond its host name.
//!
//! Host names repeat: containers are often all called `localhost`, and cloned VMs keep
//! their image's name. A claim names the machine that holds it, and a dead-pid check may
//! only ever look at this machine's claims (a pid means nothing on another machine), so
//! hew needs a name that is this machine's alone: the OS's machine id
//! (`/etc/machine-id`, else `/var/lib/dbus/machine-id`), else a random id made once and
//! kept under the user's state directory (`$XDG_STATE_HOME/hew/machine-id`, else
//! `~/.local/state/hew/machine-id`). A short prefix is enough to tell machines apart.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// How many hex digits of the id hew writes.
const SHORT: usize = 12;

/// This machine's id: 12 lowercase hex digits, the same for every hew on it.
pub fn machine_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let os = ["/etc/machine-id", "/var/lib/dbus/machine-id"]
            .iter()
            .find_map(|p| read_id(Path::new(p)));
        os.or_else(|| state_file().and_then(|f| kept_id(&f)))
            // Nowhere to keep one: an id for this process alone is still this machine's.
            .unwrap_or_else(random_id)
    })
}

/// The id in `path`, shortened, when the file holds one.
fn read_id(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let id: String = text.trim().to_ascii_lowercase();
    let hex = id.len() >= SHORT && id.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then(|| id[..SHORT].to_owned())
}

/// Where a made-up id is kept.
fn state_file() -> Option<PathBuf> {
    let var = |k| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let dir = var("XDG_STATE_HOME").or_else(|| var("HOME").map(|h| h.join(".local/state")))?;
    Some(dir.join("hew").join("machine-id"))
}

/// The id kept in `file`, made and written there the first time.
fn kept_id(file: &Path) -> Option<String> {
    if let Some(id) = read_id(file) {
        return Some(id);
    }
    let id = random_id();
    std::fs::create_dir_all(file.parent()?).ok()?;
    // Written whole through a rename: two hews starting at once keep one id between them.
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, format!("{id}\n")).ok()?;
    std::fs::rename(&tmp, file).ok()?;
    read_id(file)
}

fn random_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", h.finish())[..SHORT].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_short_hex_and_stays_the_same() {
        let id = machine_id();
        assert_eq!(id.len(), SHORT);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        assert_eq!(machine_id(), id);
    }

    #[test]
    fn a_made_up_id_is_kept_and_found_again() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state/hew/machine-id");
        let made = kept_id(&file).unwrap();
        assert_eq!(made.len(), SHORT);
        assert_eq!(kept_id(&file).unwrap(), made);
        // Not an id: ignored, as a missing file would be.
        std::fs::write(&file, "not hex\n").unwrap();
        assert_eq!(read_id(&file), None);
        std::fs::write(&file, "0123456789ABCDEF0123\n").unwrap();
        assert_eq!(read_id(&file).as_deref(), Some("0123456789ab"));
    }
}
