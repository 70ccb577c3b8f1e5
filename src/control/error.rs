//! AWS-style API errors: a code from EC2's error reference and a message.

use std::fmt;

/// The EC2 error codes the control plane returns (docs/behaviour.md §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A parameter breaks a rule: private DNS prerequisites, unsupported AZ, last
    /// security group or subnet removed, ...
    InvalidParameter,
    /// A parameter value is malformed.
    InvalidParameterValue,
    /// Two subnets of one endpoint share an Availability Zone.
    DuplicateSubnetsInSameZone,
    /// The service does not exist in this Region.
    InvalidServiceName,
    /// No such VPC.
    InvalidVpcIdNotFound,
    /// No such subnet.
    InvalidSubnetIdNotFound,
    /// No such security group.
    InvalidGroupNotFound,
    /// No such endpoint.
    InvalidVpcEndpointIdNotFound,
    /// No such endpoint service.
    InvalidVpcEndpointServiceIdNotFound,
    /// No such connection notification.
    InvalidConnectionNotification,
    /// The policy document is not JSON.
    InvalidPolicyDocument,
    /// 50 interface endpoints per VPC.
    VpcEndpointLimitExceeded,
    /// The action is not allowed in the endpoint's state or for this caller.
    OperationNotPermitted,
    /// An endpoint ID that does not have the `vpce-` shape.
    InvalidVpcEndpointIdMalformed,
    /// Parameters that cannot be given together.
    InvalidParameterCombination,
    /// A required parameter is missing.
    MissingParameter,
    /// The API does not know the action.
    InvalidAction,
    /// A pagination token that this server did not hand out.
    InvalidNextToken,
    /// A DryRun call that would have succeeded.
    DryRunOperation,
    /// The access key belongs to no account.
    AuthFailure,
    /// A service still has endpoints connected to it.
    ExistingVpcEndpointConnections,
    /// A resource ID of no known kind.
    InvalidId,
    /// A subnet has no free address for an endpoint's network interface.
    InsufficientFreeAddressesInSubnet,
    /// The request has no `Action`.
    MissingAction,
    /// `Version` names an API version other than 2016-11-15.
    NoSuchVersion,
    /// More than 50 filters, or more than 200 values in one filter.
    FilterLimitExceeded,
    /// The request is not a well-formed EC2 query (too many parameters, an unreadable body).
    InvalidQueryParameter,
    /// The request body is larger than the server accepts (HTTP 413).
    RequestEntityTooLarge,
    /// The request body did not arrive in time (HTTP 408).
    RequestTimeout,
    /// The server failed; not the caller's fault.
    InternalError,
}

impl ErrorCode {
    /// The code as EC2 spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidParameter => "InvalidParameter",
            Self::InvalidParameterValue => "InvalidParameterValue",
            Self::DuplicateSubnetsInSameZone => "DuplicateSubnetsInSameZone",
            Self::InvalidServiceName => "InvalidServiceName",
            Self::InvalidVpcIdNotFound => "InvalidVpcID.NotFound",
            Self::InvalidSubnetIdNotFound => "InvalidSubnetID.NotFound",
            Self::InvalidGroupNotFound => "InvalidGroup.NotFound",
            Self::InvalidVpcEndpointIdNotFound => "InvalidVpcEndpointId.NotFound",
            Self::InvalidVpcEndpointServiceIdNotFound => "InvalidVpcEndpointServiceId.NotFound",
            Self::InvalidConnectionNotification => "InvalidConnectionNotification",
            Self::InvalidPolicyDocument => "InvalidPolicyDocument",
            Self::VpcEndpointLimitExceeded => "VpcEndpointLimitExceeded",
            Self::OperationNotPermitted => "OperationNotPermitted",
            Self::InvalidVpcEndpointIdMalformed => "InvalidVpcEndpointId.Malformed",
            Self::InvalidParameterCombination => "InvalidParameterCombination",
            Self::MissingParameter => "MissingParameter",
            Self::InvalidAction => "InvalidAction",
            Self::InvalidNextToken => "InvalidNextToken",
            Self::DryRunOperation => "DryRunOperation",
            Self::AuthFailure => "AuthFailure",
            Self::ExistingVpcEndpointConnections => "ExistingVpcEndpointConnections",
            Self::InvalidId => "InvalidID",
            Self::InsufficientFreeAddressesInSubnet => "InsufficientFreeAddressesInSubnet",
            Self::MissingAction => "MissingAction",
            Self::NoSuchVersion => "NoSuchVersion",
            Self::FilterLimitExceeded => "FilterLimitExceeded",
            Self::InvalidQueryParameter => "InvalidQueryParameter",
            Self::RequestEntityTooLarge => "RequestEntityTooLarge",
            Self::RequestTimeout => "RequestTimeout",
            Self::InternalError => "InternalError",
        }
    }

    /// The HTTP status EC2 answers with: 412 for a DryRun that would succeed, 401 for
    /// an unknown access key, 413 and 408 for a body too large or too slow, 500 for a
    /// server fault, 400 for every other error.
    pub fn http_status(self) -> u16 {
        match self {
            Self::DryRunOperation => 412,
            Self::AuthFailure => 401,
            Self::RequestEntityTooLarge => 413,
            Self::RequestTimeout => 408,
            Self::InternalError => 500,
            _ => 400,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error the control plane answers a call with, as EC2 would.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// The error code.
    pub code: ErrorCode,
    /// What is wrong, in AWS's words where AWS's are known.
    pub message: String,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}
