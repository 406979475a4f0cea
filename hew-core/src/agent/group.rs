//! Guards that make dropping a running agent safe: the tasks draining its pipes are
//! stopped. (Its process group is guarded by [`crate::process::ProcessGroup`].)

use tokio::task::JoinHandle;

/// A spawned task that is aborted when its handle is dropped.
#[derive(Debug)]
pub(crate) struct AbortOnDrop<T>(pub JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
