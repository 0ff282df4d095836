use super::*;

#[test]
fn only_embedded_copies_that_differ_or_were_not_compared_are_searched() {
    let comparison = |same_picture| crate::hash::thumbnail::ThumbnailComparison {
        width: 160,
        height: 120,
        trimmed: false,
        aspect_main: 4.0 / 3.0,
        aspect_thumbnail: 4.0 / 3.0,
        distance: Default::default(),
        pdq_reliable: true,
        same_picture,
        heif_item: None,
    };
    assert!(!worth_searching(Some(&comparison(true))));
    assert!(worth_searching(Some(&comparison(false))));
    assert!(worth_searching(None));
}
