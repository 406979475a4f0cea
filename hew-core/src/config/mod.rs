//! Layered configuration: built-in defaults < user file < project file < `HEW_*`
//! environment < command-line flags.

mod defaults;
mod duration;
mod earlier;
mod edit;
mod error;
mod init;
mod keys;
mod layer;
mod load;
mod schema;
mod value;

pub use defaults::DEFAULT_CONFIG;
pub use duration::{HumanDuration, InvalidDuration};
pub use earlier::{EarlierKey, Effect};
pub use edit::ConfigFile;
pub use error::{ConfigError, Origin, Position};
pub use init::{FileAction, init_project, project_config_text};
pub use keys::{KeyDef, KeyKind, KeyListing, MapKeys, find_key, key_listing, keys};
pub use load::{ConfigPaths, LoadOptions, Loaded, Scope, load};
pub use schema::{
    AgentConfig, BudgetConfig, Config, InvalidPriority, LoopConfig, LoopModelConfig, MergeConfig,
    NotifyConfig, Priority, RetryConfig, Runtime, TrackerConfig, VerifyConfig, VerifyOn,
    WorktreeConfig,
};
