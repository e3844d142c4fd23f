//! The rate budget a gateway draws from, picked from the store's already-open database: on
//! PostgreSQL a [`PgRateBudget`] sharing the store's pool (so every instance on that database
//! shares one budget), on SQLite the in-process budget (a SQLite gateway is one process).
//! The budget's SQL lives with the rest of the store's, in `store/budget.rs`.

use std::sync::Arc;

use invois_client::{InProcessBudget, RateBudget};

use crate::store::Db;
pub use crate::store::budget::{PgBudgetFailure, PgRateBudget};

/// The budget a gateway on `db` should use (see the module docs). Opens nothing: the
/// backend was chosen, its pool connected and its migrations run when `db` was opened.
pub fn for_database(db: &Db) -> Arc<dyn RateBudget> {
    match PgRateBudget::from_db(db) {
        Some(shared) => shared.shared(),
        None => InProcessBudget::shared(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_gateways_keep_their_budget_in_process() {
        let db = Db::open("sqlite::memory:").await.unwrap();
        let b = for_database(&db);
        assert!(format!("{b:?}").contains("InProcessBudget"), "{b:?}");
    }
}
