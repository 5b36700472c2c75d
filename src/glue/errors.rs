//! The Glue SDK's errors as streamlake's: what was being done (operation,
//! database, table, endpoint), and whether waiting helps.
//!
//! | SDK error | streamlake error |
//! |---|---|
//! | `AccessDeniedException` (HTTP 403) | [`Error::Config`]: "access denied: needs glue:OPERATION" |
//! | `EntityNotFoundException` for the database | [`Error::Config`]: "database does not exist" |
//! | throttling codes | [`Error::Unavailable`]: "throttled" (retried) |
//! | timeout, connection refused, no response | [`Error::Unavailable`]: "unreachable" (retried) |
//! | credentials that cannot be loaded | [`Error::Config`] |
//! | anything else | [`Error::Catalog`] with the code and message |

use aws_sdk_glue::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::error::Error;

/// The error codes the SDK's retry classifier treats as throttling.
const THROTTLING: [&str; 7] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "LimitExceededException",
];

/// One request, for naming it in errors.
#[derive(Clone, Copy, Debug)]
pub(super) struct Request<'a> {
    /// The API operation, e.g. `CreateTable` (the IAM action is
    /// `glue:CreateTable`).
    pub(super) operation: &'a str,
    pub(super) database: &'a str,
    pub(super) table: Option<&'a str>,
    pub(super) endpoint: &'a str,
}

impl Request<'_> {
    fn context(&self) -> String {
        let target = match self.table {
            Some(table) => format!("table {}.{table}", self.database),
            None => format!("database {}", self.database),
        };
        format!("{} of {target} at {}", self.operation, self.endpoint)
    }
}

/// What an SDK error means, before it is given a context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    AccessDenied(String),
    /// The database does not exist.
    NoDatabase(String),
    /// The table (or another entity) does not exist.
    NotFound(String),
    AlreadyExists,
    Throttled(String),
    Unreachable(String),
    Credentials(String),
    Other(String),
}

/// Classifies an SDK error.
pub(super) fn kind<E>(err: &SdkError<E, HttpResponse>) -> Kind
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let text = DisplayErrorContext(err).to_string();
    match err {
        SdkError::ServiceError(ctx) => {
            let service = ctx.err();
            let code = service.code().unwrap_or("");
            let message = format!("{code}: {}", service.message().unwrap_or(""));
            let status = ctx.raw().status().as_u16();
            match code {
                c if c.contains("AccessDenied") || status == 403 => Kind::AccessDenied(message),
                // Glue answers a missing database and a missing table with
                // the same code; the message names which.
                "EntityNotFoundException" if message.contains("atabase") => {
                    Kind::NoDatabase(message)
                }
                "EntityNotFoundException" => Kind::NotFound(message),
                "AlreadyExistsException" => Kind::AlreadyExists,
                c if THROTTLING.contains(&c) => Kind::Throttled(message),
                _ => Kind::Other(message),
            }
        }
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => Kind::Unreachable(text),
        SdkError::DispatchFailure(d) if d.is_io() || d.is_timeout() => Kind::Unreachable(text),
        SdkError::DispatchFailure(_) if text.contains("credential") => Kind::Credentials(text),
        SdkError::DispatchFailure(_) => Kind::Unreachable(text),
        _ => Kind::Other(text),
    }
}

/// The streamlake error for `kind` during `request`.
pub(super) fn error(request: &Request<'_>, kind: Kind) -> Error {
    let context = request.context();
    match kind {
        Kind::AccessDenied(message) => Error::Config(format!(
            "glue {context}: access denied: the credentials need glue:{} ({message})",
            request.operation
        )),
        Kind::NoDatabase(message) => Error::Config(format!(
            "glue {context}: database {} does not exist and creating it is not allowed \
                 ({message}); create it, or allow creation (`create_database(true)`)",
            request.database
        )),
        Kind::Throttled(message) => Error::Unavailable {
            what: format!("glue {context}"),
            reason: format!("throttled: {message}"),
        },
        Kind::Unreachable(message) => Error::Unavailable {
            what: format!("glue {context}"),
            reason: format!("unreachable: {message}"),
        },
        Kind::Credentials(message) => Error::Config(format!(
            "glue {context}: no usable AWS credentials: {message}"
        )),
        Kind::NotFound(message) if request.table.is_none() => {
            error(request, Kind::NoDatabase(message))
        }
        Kind::NotFound(message) | Kind::Other(message) => Error::Catalog {
            context,
            reason: message,
        },
        Kind::AlreadyExists => Error::Catalog {
            context,
            reason: "already exists".into(),
        },
    }
}

/// Classifies and names an SDK error.
pub(super) fn glue_error<E>(request: &Request<'_>, err: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    error(request, kind(&err))
}

#[cfg(test)]
mod tests {
    use aws_sdk_glue::operation::create_table::CreateTableError;
    use aws_sdk_glue::types::error::{EntityNotFoundException, InternalServiceException};
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_types::body::SdkBody;

    use super::*;

    fn service(err: CreateTableError, status: u16) -> SdkError<CreateTableError, HttpResponse> {
        let response = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        SdkError::service_error(err, response)
    }

    const REQUEST: Request<'static> = Request {
        operation: "CreateTable",
        database: "lake",
        table: Some("stock"),
        endpoint: "http://127.0.0.1:5000",
    };

    fn named(err: SdkError<CreateTableError, HttpResponse>) -> (Error, String) {
        let e = glue_error(&REQUEST, err);
        let text = e.to_string();
        for name in ["lake", "stock", "http://127.0.0.1:5000"] {
            assert!(text.contains(name), "{name} not in {text}");
        }
        (e, text)
    }

    #[test]
    fn access_denied_names_the_permission() {
        let denied = CreateTableError::generic(
            aws_sdk_glue::error::ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("User: arn:aws:iam::1:user/x is not authorized")
                .build(),
        );
        let (e, text) = named(service(denied, 400));
        assert!(matches!(e, Error::Config(_)), "{e:?}");
        assert!(text.contains("glue:CreateTable"), "{text}");
        assert!(!e.is_retryable());
    }

    #[test]
    fn a_missing_database_is_a_configuration_error() {
        let missing = EntityNotFoundException::builder()
            .message("Database lake not found.")
            .meta(
                aws_sdk_glue::error::ErrorMetadata::builder()
                    .code("EntityNotFoundException")
                    .message("Database lake not found.")
                    .build(),
            )
            .build();
        let (e, text) = named(service(
            CreateTableError::EntityNotFoundException(missing),
            400,
        ));
        assert!(matches!(e, Error::Config(_)), "{e:?}");
        assert!(text.contains("does not exist"), "{text}");
    }

    #[test]
    fn throttling_and_unreachable_are_retryable() {
        let throttled = CreateTableError::generic(
            aws_sdk_glue::error::ErrorMetadata::builder()
                .code("ThrottlingException")
                .message("Rate exceeded")
                .build(),
        );
        let (e, text) = named(service(throttled, 400));
        assert!(e.is_retryable() && text.contains("throttled"), "{text}");

        let refused = SdkError::<CreateTableError, HttpResponse>::dispatch_failure(
            ConnectorError::io("connection refused".into()),
        );
        let (e, text) = named(refused);
        assert!(e.is_retryable() && text.contains("unreachable"), "{text}");

        let internal = CreateTableError::InternalServiceException(
            InternalServiceException::builder().message("boom").build(),
        );
        let (e, _) = named(service(internal, 500));
        assert!(matches!(e, Error::Catalog { .. }), "{e:?}");
    }
}
