//! The two clouds the console shows, and what each takes from its dialect: its provider rules,
//! its error table, the audit trail's source, and the names its API gives each action.

use axum::http::StatusCode;
use keypaird_api::aliyun::error::AliyunError;
use keypaird_api::aws::error::AwsError;
use keypaird_inventory::{AuditSource, InventoryError, Provider};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    Ec2,
    Ecs,
}

/// An error as the cloud's API would answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudError {
    pub code: &'static str,
    pub message: String,
    pub status: StatusCode,
}

/// A change the console makes, named as the cloud's API names it (the audit trail's event name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Create,
    Import,
    Delete,
    AddTags,
    RemoveTags,
    MoveToResourceGroup,
}

impl Cloud {
    /// The path segment: `/console/ec2/…`, `/console/ecs/…`.
    pub fn parse(segment: &str) -> Option<Cloud> {
        match segment {
            "ec2" => Some(Cloud::Ec2),
            "ecs" => Some(Cloud::Ecs),
            _ => None,
        }
    }

    pub fn segment(self) -> &'static str {
        match self {
            Cloud::Ec2 => "ec2",
            Cloud::Ecs => "ecs",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Cloud::Ec2 => "EC2 key pairs",
            Cloud::Ecs => "ECS SSH key pairs",
        }
    }

    pub fn provider(self) -> Provider {
        match self {
            Cloud::Ec2 => Provider::Aws,
            Cloud::Ecs => Provider::Aliyun,
        }
    }

    pub fn audit_source(self) -> AuditSource {
        match self {
            Cloud::Ec2 => AuditSource::Ec2,
            Cloud::Ecs => AuditSource::Ecs,
        }
    }

    /// The region a page opens in when none is chosen.
    pub fn default_region(self) -> &'static str {
        match self {
            Cloud::Ec2 => "us-east-1",
            Cloud::Ecs => "cn-hangzhou",
        }
    }

    /// Regions offered in the selector; any other well-formed region can be typed.
    pub fn known_regions(self) -> &'static [&'static str] {
        match self {
            Cloud::Ec2 => &[
                "us-east-1",
                "us-east-2",
                "us-west-1",
                "us-west-2",
                "eu-west-1",
                "eu-central-1",
                "ap-northeast-1",
                "ap-southeast-1",
            ],
            Cloud::Ecs => &[
                "cn-hangzhou",
                "cn-shanghai",
                "cn-beijing",
                "cn-shenzhen",
                "cn-hongkong",
                "ap-southeast-1",
                "eu-central-1",
                "us-west-1",
            ],
        }
    }

    /// The event name the cloud's API records for `change`.
    pub fn action(self, change: Change) -> &'static str {
        match (self, change) {
            (_, Change::Create) => "CreateKeyPair",
            (_, Change::Import) => "ImportKeyPair",
            (Cloud::Ec2, Change::Delete) => "DeleteKeyPair",
            (Cloud::Ecs, Change::Delete) => "DeleteKeyPairs",
            (Cloud::Ec2, Change::AddTags) => "CreateTags",
            (Cloud::Ecs, Change::AddTags) => "TagResources",
            (Cloud::Ec2, Change::RemoveTags) => "DeleteTags",
            (Cloud::Ecs, Change::RemoveTags) => "UntagResources",
            (_, Change::MoveToResourceGroup) => "JoinResourceGroup",
        }
    }

    /// `error` as the cloud's own error table answers it.
    pub fn error(self, error: InventoryError) -> CloudError {
        match self {
            Cloud::Ec2 => Self::aws(AwsError::from(error)),
            Cloud::Ecs => Self::aliyun(AliyunError::from(error)),
        }
    }

    pub fn aws(error: AwsError) -> CloudError {
        let (code, status) = error.code.wire();
        CloudError {
            code,
            message: error.message,
            status,
        }
    }

    pub fn aliyun(error: AliyunError) -> CloudError {
        let (code, status) = error.code.wire();
        CloudError {
            code,
            message: error.message,
            status,
        }
    }

    /// The cloud's answer to a public key it cannot read.
    pub fn bad_public_key(self) -> CloudError {
        match self {
            Cloud::Ec2 => Self::aws(AwsError::invalid_key_format()),
            Cloud::Ecs => Self::aliyun(AliyunError::public_key_body()),
        }
    }

    /// The cloud's answer to a required field left empty.
    pub fn missing(self, name: &str) -> CloudError {
        match self {
            Cloud::Ec2 => Self::aws(AwsError::missing_parameter(name)),
            Cloud::Ecs => Self::aliyun(AliyunError::missing_parameter(name)),
        }
    }

    /// What the parameter of a field is called in the cloud's API, for errors and for the
    /// audit trail's `requestParameters` (CloudTrail's lower camel case, ECS's names as sent).
    pub fn parameter(self, field: Field) -> &'static str {
        match (self, field) {
            (Cloud::Ec2, Field::Name) => "keyName",
            (Cloud::Ecs, Field::Name) => "KeyPairName",
            (Cloud::Ec2, Field::KeyType) => "keyType",
            (Cloud::Ecs, Field::KeyType) => "KeyType",
            (Cloud::Ec2, Field::KeyFormat) => "keyFormat",
            (Cloud::Ecs, Field::KeyFormat) => "KeyFormat",
            (Cloud::Ec2, Field::PublicKey) => "publicKeyMaterial",
            (Cloud::Ecs, Field::PublicKey) => "PublicKeyBody",
            (Cloud::Ec2, Field::KeyPairId) => "keyPairId",
            (Cloud::Ecs, Field::KeyPairId) => "KeyPairId",
            (Cloud::Ec2, Field::ResourceGroup) => "resourceGroupId",
            (Cloud::Ecs, Field::ResourceGroup) => "ResourceGroupId",
            (Cloud::Ec2, Field::Region) => "regionId",
            (Cloud::Ecs, Field::Region) => "RegionId",
        }
    }
}

/// The fields of the console's forms that become API parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    KeyType,
    KeyFormat,
    PublicKey,
    KeyPairId,
    ResourceGroup,
    Region,
}

/// A region name as both clouds spell them: lower-case letters, digits and hyphens.
pub fn valid_region(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}
