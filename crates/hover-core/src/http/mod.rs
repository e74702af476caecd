//! HTTP functions: API Gateway and ALB events turned into php-fpm requests, and php-fpm's
//! CGI output turned into the response each source expects.

pub mod event;
pub mod response;
