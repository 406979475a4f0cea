//! Reading and editing one config file the way `hew config get|set|unset` does: with
//! `toml_edit`, so the user's comments and layout survive, missing tables are created, and
//! nothing is saved that would not load.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use toml_edit::{DocumentMut, Item, Table, TableLike, Value};

use super::error::{ConfigError, Origin, Position};
use super::keys::{KeyKind, KeyRef, resolve, split_path};
use super::layer::Layer;
use super::value::{entry_from_text, from_text, price_from_text, render_item};

/// One config file (user or project), open for reading and editing.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    path: PathBuf,
    doc: DocumentMut,
}

impl ConfigFile {
    /// Opens a config file; a missing file is an empty document. Fails on unreadable
    /// files and malformed TOML (naming the file, line and column). Keys and values are
    /// not checked here, so a broken file can still be repaired with `unset`.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, ConfigError> {
        let path = path.into();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => String::new(),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let doc = text.parse::<DocumentMut>().map_err(|err| {
            let at = Position::at_offset(&text, err.span().map_or(0, |s| s.start));
            ConfigError::Malformed {
                path: path.clone(),
                line: at.line,
                column: at.column,
                message: err.message().trim().replace('\n', "; "),
            }
        })?;
        Ok(Self { path, doc })
    }

    /// The keys of earlier hew in the file, and what becomes of each (see
    /// [`Loaded::earlier`](super::Loaded::earlier)). Fails as loading the file would.
    pub fn earlier(&self) -> Result<Vec<super::EarlierKey>, ConfigError> {
        let layer = Layer::from_toml(&self.doc.to_string(), &self.origin())?;
        Ok(layer.earlier().to_vec())
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The document as [`ConfigFile::save`] would write it.
    pub fn text(&self) -> String {
        self.doc.to_string()
    }

    /// The value this file sets for `key` (a key or a map entry), as text that
    /// [`ConfigFile::set`] accepts back; `None` if the file does not set it.
    pub fn get(&self, key: &str) -> Result<Option<String>, ConfigError> {
        let key = resolve(key, &self.origin())?;
        let path = key.path();
        Ok(item_at(self.doc.as_table(), &path).and_then(render_item))
    }

    /// Sets `key` from text, as typed after `hew config set KEY`. A map path replaces the
    /// whole map (`P0=opus,P1=sonnet`); a map entry path (`loop.model.by_priority.P1`)
    /// sets one entry. An empty value removes a scalar key or a map entry, and empties a
    /// list or a map. The edited document must still load as a config layer, else
    /// nothing changes.
    pub fn set(&mut self, key: &str, raw: &str) -> Result<(), ConfigError> {
        let origin = self.origin();
        let key = resolve(key, &origin)?;
        let mut doc = self.doc.clone();
        let root = doc.as_table_mut();
        match &key {
            KeyRef::Key(def) => match from_text(def, raw, &origin)? {
                None => {
                    remove_at(root, def.path);
                }
                Some(Value::InlineTable(map))
                    if matches!(def.kind, KeyKind::Map(_) | KeyKind::Prices) =>
                {
                    match item_at_mut(root, def.path) {
                        Some(Item::Table(table)) => {
                            table.clear();
                            for (k, v) in map.iter() {
                                table.insert(k, Item::Value(v.clone()));
                            }
                        }
                        _ => insert_at(root, def.path, Item::Value(Value::InlineTable(map)))
                            .map_err(|section| not_a_table(section, &origin))?,
                    }
                }
                Some(value) => insert_at(root, def.path, Item::Value(value))
                    .map_err(|section| not_a_table(section, &origin))?,
            },
            KeyRef::Entry { map, .. } => match entry_from_text(raw) {
                None => {
                    remove_at(root, &key.path());
                }
                Some(value) => {
                    if item_at(root, map.path).is_none() {
                        insert_at(root, map.path, Item::Table(Table::new()))
                            .map_err(|section| not_a_table(section, &origin))?;
                    }
                    insert_at(root, &key.path(), Item::Value(value))
                        .map_err(|section| not_a_table(section, &origin))?;
                }
            },
            KeyRef::Price { .. } => match price_from_text(&key.path(), raw, &origin)? {
                None => {
                    remove_at(root, &key.path());
                }
                Some(value) => insert_at(root, &key.path(), Item::Value(value))
                    .map_err(|section| not_a_table(section, &origin))?,
            },
        }
        self.replace(doc)
    }

    /// Removes `key` (a key or a map entry) from the file. Returns whether it was there.
    /// Not checked like `set`: every key has a default, so removing one cannot make a
    /// layer invalid, and a file with several bad keys can be mended one key at a time.
    pub fn unset(&mut self, key: &str) -> Result<bool, ConfigError> {
        let key = resolve(key, &self.origin())?;
        Ok(remove_at(self.doc.as_table_mut(), &key.path()))
    }

    /// Writes the file: to a temporary file in the same directory, then renamed over the
    /// old one, so a reader never sees half a file. Creates the directory if needed; a
    /// symlinked file is written through the link, and an existing file keeps its
    /// permissions.
    pub fn save(&self) -> Result<(), ConfigError> {
        let write_err = |source| ConfigError::Write {
            path: self.path.clone(),
            source,
        };
        let target = fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        fs::create_dir_all(dir).map_err(write_err)?;
        let name = target
            .file_name()
            .map_or("config.toml".into(), |n| n.to_string_lossy());
        static SAVES: AtomicUsize = AtomicUsize::new(0);
        let serial = SAVES.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".{name}.{}-{serial}.tmp", std::process::id()));
        let written = fs::write(&temp, self.text()).and_then(|()| {
            match fs::metadata(&target) {
                Ok(old) => fs::set_permissions(&temp, old.permissions())?,
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => return Err(err),
            }
            fs::rename(&temp, &target)
        });
        written.map_err(|err| {
            let _ = fs::remove_file(&temp);
            write_err(err)
        })
    }

    fn origin(&self) -> Origin {
        Origin::file(&self.path)
    }

    /// Keeps `doc` if it loads as a config layer on its own.
    fn replace(&mut self, doc: DocumentMut) -> Result<(), ConfigError> {
        Layer::from_toml(&doc.to_string(), &self.origin())?;
        self.doc = doc;
        Ok(())
    }
}

/// The item at a dotted path (segments may be quoted), through tables, inline tables and
/// dotted keys.
pub(crate) fn item_at<'a>(root: &'a Table, path: &str) -> Option<&'a Item> {
    let parts = split_path(path)?;
    let (first, rest) = parts.split_first()?;
    let mut item = root.get(first)?;
    for part in rest {
        item = item.as_table_like()?.get(part)?;
    }
    Some(item)
}

fn item_at_mut<'a>(root: &'a mut Table, path: &str) -> Option<&'a mut Item> {
    let parts = split_path(path)?;
    let (first, rest) = parts.split_first()?;
    let mut item = root.get_mut(first)?;
    for part in rest {
        item = item.as_table_like_mut()?.get_mut(part)?;
    }
    Some(item)
}

/// Puts `item` at a dotted path, creating missing tables on the way (as `[a.b]` headers,
/// or inside an inline table if the path goes through one). Fails with the path of a
/// section that exists but is not a table.
pub(crate) fn insert_at(root: &mut Table, path: &str, item: Item) -> Result<(), String> {
    let parts = split_path(path).ok_or_else(|| path.to_owned())?;
    let Some((leaf, sections)) = parts.split_last() else {
        return Err(path.to_owned());
    };
    if sections.is_empty() {
        put(root, leaf, item);
        return Ok(());
    }
    let sections: Vec<&str> = sections.iter().map(String::as_str).collect();
    let whole = sections.join(".");
    match section(root, &sections, &whole)? {
        Item::Value(Value::InlineTable(inline)) => {
            put(inline, leaf, item);
            inline.fmt();
        }
        Item::Table(table) => put(table, leaf, item),
        _ => return Err(whole),
    }
    Ok(())
}

/// The section at `parts` under `table`, created (as an implicit table) where missing.
fn section<'a>(
    table: &'a mut dyn TableLike,
    parts: &[&str],
    whole: &str,
) -> Result<&'a mut Item, String> {
    let not_a_table = || whole.to_owned();
    let (first, rest) = parts.split_first().ok_or_else(not_a_table)?;
    if table.get(first).is_none_or(Item::is_none) {
        let mut new = Table::new();
        new.set_implicit(true);
        table.insert(first, Item::Table(new));
    }
    let item = table.get_mut(first).ok_or_else(not_a_table)?;
    if rest.is_empty() {
        return Ok(item);
    }
    section(
        item.as_table_like_mut().ok_or_else(not_a_table)?,
        rest,
        whole,
    )
}

/// Inserts or replaces an entry. A replaced entry keeps its key's comments and layout,
/// and a replaced value its trailing comment.
fn put(table: &mut dyn TableLike, key: &str, mut item: Item) {
    match table.get_mut(key) {
        Some(old) => {
            if let (Item::Value(old), Item::Value(new)) = (&*old, &mut item) {
                *new.decor_mut() = old.decor().clone();
            }
            *old = item;
        }
        None => {
            table.insert(key, item);
        }
    }
}

/// Removes the item at a dotted path; returns whether there was one.
/// Removes the item at a dotted path; whether there was one.
pub(crate) fn remove_at(root: &mut Table, path: &str) -> bool {
    let Some(parts) = split_path(path) else {
        return false;
    };
    let Some((leaf, sections)) = parts.split_last() else {
        return false;
    };
    let removed = if sections.is_empty() {
        root.remove(leaf)
    } else {
        let mut table: Option<&mut dyn TableLike> = Some(root);
        for part in sections {
            table = table
                .and_then(|t| t.get_mut(part))
                .and_then(Item::as_table_like_mut);
        }
        table.and_then(|t| t.remove(leaf))
    };
    removed.is_some()
}

fn not_a_table(section: String, origin: &Origin) -> ConfigError {
    ConfigError::InvalidValue {
        key: section,
        origin: origin.clone(),
        expected: "a table".into(),
        found: "a value".into(),
    }
}

#[cfg(test)]
#[path = "edit_tests.rs"]
mod tests;
