//! SQL fragments both backends' key pair statements share (their placeholders differ, so whole
//! statements stay per backend).

/// Which column a lookup narrows the scope by, in a query that aliases `key_pairs` as `k`.
#[derive(Clone, Copy)]
pub(crate) enum Column {
    Name,
    Id,
}

impl Column {
    pub(crate) fn sql(self) -> &'static str {
        match self {
            Column::Name => "k.name",
            Column::Id => "k.id",
        }
    }
}
