"use client";

export default function Page() {
  return <h1>outcomes</h1>;
}
