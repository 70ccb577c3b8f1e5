//! CreateTags and DeleteTags.

use super::{Call, required_list, returns_true};
use crate::api::protocol::Xml;
use crate::control::ApiError;

pub(super) fn create(call: &mut Call<'_>) -> Result<Xml, ApiError> {
    let resources = required_list(call.params, "ResourceId")?;
    let tags: Vec<(String, String)> = call
        .params
        .tags("Tag")
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    call.control
        .create_tags(call.now, call.caller, &resources, &tags)?;
    Ok(returns_true())
}

pub(super) fn delete(call: &mut Call<'_>) -> Result<Xml, ApiError> {
    let resources = required_list(call.params, "ResourceId")?;
    let tags = call.params.tags("Tag");
    call.control
        .delete_tags(call.now, call.caller, &resources, &tags)?;
    Ok(returns_true())
}
