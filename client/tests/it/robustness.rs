//! Clients that are not clients: random and truncated bytes on the PostgreSQL port,
//! garbage on the Flight SQL port and malformed Flight handshakes, in a bounded loop on
//! 127.0.0.1. The server survives them and answers afterwards.

use crate::common::ServeProcess;
use crate::postgres::psql_ok;

/// What a client that is not one sends to the PostgreSQL port: random bytes, startup
/// messages cut short or with absurd lengths, TLS requests followed by garbage.
fn garbage(rng: &mut impl rand::Rng, round: usize) -> Vec<u8> {
    use rand::Rng;
    let startup: Vec<u8> = {
        let body = b"\x00\x03\x00\x00user\x00alice\x00database\x00quarry\x00\x00";
        let mut message = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        message.extend_from_slice(body);
        message
    };
    // Up to `max` random bytes.
    let random = |rng: &mut dyn rand::RngCore, max: usize| {
        let mut bytes = vec![0u8; rng.random_range(1..=max)];
        rng.fill_bytes(&mut bytes);
        bytes
    };
    match round % 5 {
        0 => random(rng, 2048),
        1 => startup[..rng.random_range(1..startup.len())].to_vec(),
        // A length of up to 4 GiB, then little of it.
        2 => [rng.random::<u32>().to_be_bytes().to_vec(), random(rng, 16)].concat(),
        // SSLRequest, then bytes that are no TLS handshake.
        3 => [vec![0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f], random(rng, 512)].concat(),
        // A whole startup, then random messages.
        _ => [startup.clone(), random(rng, 1024)].concat(),
    }
}

#[test]
fn random_and_truncated_bytes_never_crash_the_server() {
    use rand::{Rng, RngCore, SeedableRng};
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    let mut server = ServeProcess::start(1);
    let mut rng = rand::rngs::StdRng::seed_from_u64(22);
    for round in 0..200 {
        // The PostgreSQL port, and the Flight SQL port (HTTP/2) every fourth round.
        let port = match round % 4 {
            3 => server.port,
            _ => server.pg_port,
        };
        let mut socket = TcpStream::connect(("127.0.0.1", port)).expect("the port accepts");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let _ = socket.write_all(&garbage(&mut rng, round));
        let _ = socket.read(&mut [0u8; 256]);
        if round % 2 == 0 {
            // Half the clients go away without a word.
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
    }
    // Flight SQL handshakes with payloads and headers that are no credentials.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use arrow_flight::HandshakeRequest;
        use arrow_flight::flight_service_client::FlightServiceClient;
        let url = format!("http://127.0.0.1:{}", server.port);
        let channel = tonic::transport::Endpoint::from_shared(url)
            .unwrap()
            .connect()
            .await
            .expect("connects");
        let mut client = FlightServiceClient::new(channel);
        for round in 0..50 {
            let mut payload = vec![0u8; rng.random_range(0..4096)];
            rng.fill_bytes(&mut payload);
            let mut request = tonic::Request::new(futures::stream::iter([HandshakeRequest {
                protocol_version: rng.random(),
                payload: payload.into(),
            }]));
            let header = match round % 3 {
                0 => "Basic !!not-base64!!".to_string(),
                1 => format!("Basic {}", "A".repeat(rng.random_range(0..10_000))),
                _ => "Bearer".to_string(),
            };
            request
                .metadata_mut()
                .insert("authorization", header.parse().unwrap());
            // The server answers each: a login (any is accepted until users exist) or
            // a refusal, never a broken connection or an internal error.
            let status = match client.handshake(request).await {
                Ok(mut answers) => answers.get_mut().message().await.err(),
                Err(status) => Some(status),
            };
            let code = status.map(|s| s.code());
            assert!(
                !matches!(
                    code,
                    Some(tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Internal)
                ),
                "{code:?}"
            );
        }
    });
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server is still running"
    );
    let out = psql_ok(&server, &["-A", "-t", "-c", "SELECT 40 + 2"]);
    assert_eq!(out.trim(), "42");
}
