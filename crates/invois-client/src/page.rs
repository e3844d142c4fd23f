//! One page of a listing.

/// A page of results with the paging facts the endpoint gave.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// 1-based number of this page.
    pub page_no: u32,
    /// Pages at this size, where the endpoint says.
    pub total_pages: Option<u32>,
    /// Matching items, where the endpoint says.
    pub total_count: Option<u32>,
    /// Whether another page follows.
    pub has_next: bool,
}

impl<T> Page<T> {
    pub(crate) fn new(
        items: Vec<T>,
        page_no: u32,
        total_pages: Option<u32>,
        total_count: Option<u32>,
        has_next: bool,
    ) -> Page<T> {
        Page {
            items,
            page_no,
            total_pages,
            total_count,
            has_next,
        }
    }
}

impl<T> IntoIterator for Page<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}
