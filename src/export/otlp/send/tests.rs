use super::*;

fn parts(status: u16, retry_after: Option<&str>) -> http::response::Parts {
    let mut b = http::Response::builder().status(status);
    if let Some(r) = retry_after {
        b = b.header("retry-after", r);
    }
    b.body(()).expect("response").into_parts().0
}

#[test]
fn http_answers_are_classified_as_the_specification_says() {
    for code in [429, 502, 503, 504] {
        assert!(
            matches!(
                http_outcome(&parts(code, None), b""),
                Outcome::Retry { after: None, .. }
            ),
            "{code}"
        );
    }
    for code in [400, 401, 403, 404, 413, 500] {
        assert!(
            matches!(
                http_outcome(&parts(code, None), b""),
                Outcome::Permanent { .. }
            ),
            "{code}"
        );
    }
    assert!(matches!(
        http_outcome(&parts(503, Some("7")), b""),
        Outcome::Retry { after: Some(d), .. } if d == Duration::from_secs(7)
    ));
    let body = AnyResponse {
        partial_success: Some(AnyPartialSuccess {
            rejected: 3,
            error_message: "bad spans".into(),
        }),
    }
    .encode_to_vec();
    assert_eq!(
        http_outcome(&parts(200, None), &body),
        Outcome::Delivered {
            rejected: 3,
            message: "bad spans".into()
        }
    );
    let status = rpc::Status {
        code: 3,
        message: "span 4 has no name".into(),
        details: vec![],
    }
    .encode_to_vec();
    assert_eq!(
        http_outcome(&parts(400, None), &status),
        Outcome::Permanent {
            reason: "HTTP 400: span 4 has no name".into()
        }
    );
}

#[test]
fn grpc_resource_exhausted_is_retried_only_with_retry_info() {
    assert!(matches!(
        grpc_outcome(code::RESOURCE_EXHAUSTED, "full", &[]),
        Outcome::Permanent { .. }
    ));
    let retry = rpc::RetryInfo {
        retry_delay: Some(rpc::Duration {
            seconds: 2,
            nanos: 500_000_000,
        }),
    };
    let details = rpc::Status {
        code: code::RESOURCE_EXHAUSTED,
        message: "full".into(),
        details: vec![rpc::Any {
            type_url: rpc::RETRY_INFO_TYPE.into(),
            value: retry.encode_to_vec(),
        }],
    }
    .encode_to_vec();
    assert!(matches!(
        grpc_outcome(code::RESOURCE_EXHAUSTED, "full", &details),
        Outcome::Retry { after: Some(d), .. } if d == Duration::from_millis(2500)
    ));
    for c in [code::UNAVAILABLE, code::DEADLINE_EXCEEDED, code::ABORTED] {
        assert!(matches!(grpc_outcome(c, "x", &[]), Outcome::Retry { .. }));
    }
    for c in [3, code::UNAUTHENTICATED, code::UNIMPLEMENTED] {
        assert!(matches!(
            grpc_outcome(c, "x", &[]),
            Outcome::Permanent { .. }
        ));
    }
}

/// The head of an answer with `status` and no headers.
fn head(status: u16) -> http::response::Parts {
    http::Response::builder()
        .status(status)
        .body(())
        .unwrap()
        .into_parts()
        .0
}

/// One gRPC message holding a response whose partial success rejected two spans.
fn framed_partial_success() -> Vec<u8> {
    let response = AnyResponse {
        partial_success: Some(AnyPartialSuccess {
            rejected: 2,
            error_message: "two spans without names".into(),
        }),
    }
    .encode_to_vec();
    let mut framed = vec![0u8];
    framed.extend((response.len() as u32).to_be_bytes());
    framed.extend(&response);
    framed
}

/// `grpc-status-details-bin` of UNAVAILABLE with a RetryInfo of 3 s, unpadded base64.
fn retry_info_details_bin() -> String {
    let details = rpc::Status {
        code: code::UNAVAILABLE,
        message: String::new(),
        details: vec![rpc::Any {
            type_url: rpc::RETRY_INFO_TYPE.into(),
            value: rpc::RetryInfo {
                retry_delay: Some(rpc::Duration {
                    seconds: 3,
                    nanos: 0,
                }),
            }
            .encode_to_vec(),
        }],
    }
    .encode_to_vec();
    base64_encode_for_test(&details)
        .trim_end_matches('=')
        .to_owned()
}

#[test]
fn grpc_answers_are_read_from_trailers_headers_or_the_http_status() {
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", "0".parse().unwrap());
    assert_eq!(
        grpc_response(&head(200), &framed_partial_success(), &trailers),
        Outcome::Delivered {
            rejected: 2,
            message: "two spans without names".into()
        }
    );
    // A trailers-only refusal, with RetryInfo in the binary details.
    let refused = http::Response::builder()
        .status(200)
        .header("grpc-status", "14")
        .header("grpc-message", "queue%20full%3B retry")
        .header("grpc-status-details-bin", retry_info_details_bin())
        .body(())
        .unwrap()
        .into_parts()
        .0;
    assert_eq!(
        grpc_response(&refused, b"", &http::HeaderMap::new()),
        Outcome::Retry {
            after: Some(Duration::from_secs(3)),
            reason: "gRPC status 14: queue full; retry".into()
        }
    );
    assert!(matches!(
        grpc_response(&head(503), b"", &http::HeaderMap::new()),
        Outcome::Retry { .. }
    ));
    assert!(matches!(
        grpc_response(&head(404), b"", &http::HeaderMap::new()),
        Outcome::Permanent { .. }
    ));
}

fn base64_encode_for_test(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    while !out.len().is_multiple_of(4) {
        out.push('=');
    }
    out
}

#[test]
fn base64_round_trips_every_length() {
    for n in 0..40u8 {
        let bytes: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
        assert_eq!(
            base64_decode(&base64_encode_for_test(&bytes)).unwrap(),
            bytes
        );
    }
}
